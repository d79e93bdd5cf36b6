module goroutines/gopeers/cpu

go 1.27
