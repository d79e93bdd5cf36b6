module goroutines/gopeers/profiling

go 1.27
