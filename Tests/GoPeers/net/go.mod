module goroutines.peers/net

go 1.27
