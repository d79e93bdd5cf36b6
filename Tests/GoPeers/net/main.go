// Go peer of Sources/GoroutinesBench/NetBenchmarks.swift: the same loopback TCP workloads with Go's net
// package, printing the same JSON lines (impl "go").
//
//	cd Tests/GoPeers/net && go run . <benchmark> [size]
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func emit(name string, ops int, elapsed time.Duration, extra map[string]float64) {
	fields := []string{
		fmt.Sprintf(`"name":"%s"`, name), `"impl":"go"`, fmt.Sprintf(`"ops":%d`, ops),
		fmt.Sprintf(`"wall_ms":%g`, float64(elapsed.Nanoseconds())/1e6),
		fmt.Sprintf(`"ns_per_op":%g`, float64(elapsed.Nanoseconds())/float64(ops)),
		fmt.Sprintf(`"peak_rss_kib":%d`, statusField("VmHWM:")),
	}
	for k, v := range extra {
		fields = append(fields, fmt.Sprintf(`"%s":%g`, k, v))
	}
	fmt.Println("{" + strings.Join(fields, ",") + "}")
}

func statusField(name string) int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), name) {
			v, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(s.Text(), name)), " kB"))
			return v
		}
	}
	return 0
}

func echoServer() net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 32*1024)
				for {
					n, err := c.Read(buf)
					if err != nil {
						break
					}
					if _, err := c.Write(buf[:n]); err != nil {
						break
					}
				}
				c.Close()
			}()
		}
	}()
	return ln
}

func echoRTT(n int) {
	ln := echoServer()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	msg := make([]byte, 64)
	reply := make([]byte, 64)
	for i := 0; i < 1000; i++ {
		c.Write(msg)
		io.ReadFull(c, reply)
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := c.Write(msg); err != nil {
			panic(err)
		}
		if _, err := io.ReadFull(c, reply); err != nil {
			panic(err)
		}
	}
	elapsed := time.Since(start)
	c.Close()
	ln.Close()
	emit("net_echo_rtt_64b", n, elapsed, nil)
}

func echoThroughput(conns, perConn int) {
	ln := echoServer()
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			panic(err)
		}
		cs[i] = c
	}
	var wg sync.WaitGroup
	start := time.Now()
	for _, c := range cs {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			msg := make([]byte, 4096)
			reply := make([]byte, 4096)
			for i := 0; i < perConn; i++ {
				if _, err := c.Write(msg); err != nil {
					panic(err)
				}
				if _, err := io.ReadFull(c, reply); err != nil {
					panic(err)
				}
			}
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, c := range cs {
		c.Close()
	}
	ln.Close()
	messages := conns * perConn
	emit("net_echo_throughput_100conns_4k", messages, elapsed,
		map[string]float64{"mib_per_s": float64(messages*4096) / elapsed.Seconds() / 1048576})
}

func acceptRate(n int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	var accepted sync.WaitGroup
	accepted.Add(n)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
			accepted.Done()
		}
	}()
	const dialers = 4
	var wg sync.WaitGroup
	start := time.Now()
	for d := 0; d < dialers; d++ {
		wg.Add(1)
		go func(d int) {
			defer wg.Done()
			one := make([]byte, 1)
			for i := d; i < n; i += dialers {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					panic(err)
				}
				c.Read(one)
				c.Close()
			}
		}(d)
	}
	wg.Wait()
	accepted.Wait()
	elapsed := time.Since(start)
	ln.Close()
	emit("net_accept_rate", n, elapsed, nil)
}

func idleConns(n int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	var reading atomic.Int64
	rssBefore := statusField("VmRSS:")
	start := time.Now()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 512)
				reading.Add(1)
				c.Read(buf)
				c.Close()
			}()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	child := exec.Command("/proc/self/exe", "net_idle_client", strconv.Itoa(port), strconv.Itoa(n))
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		panic(err)
	}
	for reading.Load() < int64(n) {
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	time.Sleep(300 * time.Millisecond)
	rssAfter := statusField("VmRSS:")
	threads := statusField("Threads:")
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()
	emit(fmt.Sprintf("net_idle_conns_x%d", n), n, elapsed, map[string]float64{
		"rss_per_conn_bytes": float64((rssAfter-rssBefore)*1024) / float64(n), "threads": float64(threads)})
}

// The client process of net_idle_conns: n blocking connections, then wait to be killed.
func idleClient(port, n int) {
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			fmt.Fprintln(os.Stderr, "idle client:", err)
			os.Exit(1)
		}
		conns = append(conns, c)
	}
	select {}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Println("usage: net <net_echo_rtt|net_echo_throughput|net_accept_rate|net_idle_conns> [size]")
		os.Exit(64)
	}
	size := func(def int) int {
		if len(os.Args) > 2 {
			if v, err := strconv.Atoi(os.Args[2]); err == nil {
				return v
			}
		}
		return def
	}
	switch os.Args[1] {
	case "net_echo_rtt":
		echoRTT(size(100000))
	case "net_echo_throughput":
		echoThroughput(100, size(1000))
	case "net_accept_rate":
		acceptRate(size(5000))
	case "net_idle_conns":
		idleConns(size(10000))
	case "net_idle_client":
		port, _ := strconv.Atoi(os.Args[2])
		n, _ := strconv.Atoi(os.Args[3])
		idleClient(port, n)
	default:
		fmt.Fprintln(os.Stderr, "unknown benchmark", os.Args[1])
		os.Exit(64)
	}
}
