module goroutines.local/goserverpeer

go 1.27
