module goroutines.local/pprofpeer

go 1.27
