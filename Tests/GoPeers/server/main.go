// Go peer for the debug-server benchmark: Go 1.27's net/http with net/http/pprof, plus a fixed
// 200 KiB body at /debug/pprof/big with the same bytes the Swift benchmark serves. Standard library
// only. Usage: server 127.0.0.1:0  (prints "listening <addr>" once ready).
package main

import (
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"strconv"
)

func main() {
	addr := "127.0.0.1:0"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	big := make([]byte, 200*1024)
	for i := range big {
		big[i] = byte(i*31 + 7)
	}
	http.HandleFunc("GET /debug/pprof/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		w.Write(big)
	})
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("listening", listener.Addr().String())
	http.Serve(listener, nil)
}
