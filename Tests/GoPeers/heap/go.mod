module goroutines/gopeers/heap

go 1.27
