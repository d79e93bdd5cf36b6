module goroutines.peers/runtime

go 1.27
