// Go peer for scripts/bench-serving.sh: parks N goroutines (default 10,000) on a channel nobody closes,
// then serves Go 1.27's net/http/pprof on loopback. Standard library only.
// Usage: pprofpeer [host:port] [goroutines]   prints "listening <addr>" once every goroutine is parked.
package main

import (
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"strconv"
	"time"
)

//go:noinline
func parkForever(gate chan struct{}) {
	<-gate
}

func main() {
	addr := "127.0.0.1:0"
	parked := 10000
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	if len(os.Args) > 2 {
		n, err := strconv.Atoi(os.Args[2])
		if err != nil || n < 0 {
			fmt.Fprintln(os.Stderr, "usage: pprofpeer [host:port] [goroutines]")
			os.Exit(2)
		}
		parked = n
	}
	gate := make(chan struct{})
	for i := 0; i < parked; i++ {
		go parkForever(gate)
	}
	for runtime.NumGoroutine() < parked+1 {
		time.Sleep(10 * time.Millisecond)
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("listening", listener.Addr().String())
	if err := http.Serve(listener, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
