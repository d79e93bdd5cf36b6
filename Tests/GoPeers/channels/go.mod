module goroutines/gopeers/channels

go 1.27
