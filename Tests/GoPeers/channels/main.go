// Go peer of Sources/GoroutinesBench/ChannelBenchmarks.swift: the same channel, select, mutex and
// WaitGroup workloads, printing the same JSON lines (impl "go").
//
//	cd Tests/GoPeers/channels && go run . <benchmark> [size]
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

type result struct {
	name    string
	ops     int
	elapsed time.Duration
}

func (r result) json() string {
	return fmt.Sprintf(`{"name":"%s","impl":"go","ops":%d,"wall_ms":%g,"ns_per_op":%g}`,
		r.name, r.ops, float64(r.elapsed.Nanoseconds())/1e6, float64(r.elapsed.Nanoseconds())/float64(r.ops))
}

func pingPong(iterations, procs int) result {
	old := runtime.GOMAXPROCS(procs)
	defer runtime.GOMAXPROCS(old)
	ping, pong := make(chan int), make(chan int)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for v := range ping {
			pong <- v
		}
	}()
	start := time.Now()
	for i := 0; i < iterations; i++ {
		ping <- i
		<-pong
	}
	elapsed := time.Since(start)
	close(ping)
	wg.Wait()
	return result{fmt.Sprintf("chan_pingpong_procs%d", procs), iterations * 2, elapsed}
}

func buffered(items, capacity int) result {
	ch := make(chan int, capacity)
	start := time.Now()
	go func() {
		for i := 0; i < items; i++ {
			ch <- i
		}
		close(ch)
	}()
	sum := 0
	for v := range ch {
		sum += v
	}
	elapsed := time.Since(start)
	if sum != items*(items-1)/2 {
		panic("lost items")
	}
	return result{fmt.Sprintf("chan_buffered_cap%d", capacity), items, elapsed}
}

func selectFanIn(items int) result {
	var in [4]chan int
	per := items / 4
	for k := range in {
		in[k] = make(chan int)
		go func(ch chan int) {
			for i := 0; i < per; i++ {
				ch <- i
			}
		}(in[k])
	}
	start := time.Now()
	received := 0
	for received < per*4 {
		select {
		case <-in[0]:
			received++
		case <-in[1]:
			received++
		case <-in[2]:
			received++
		case <-in[3]:
			received++
		}
	}
	return result{"select_fanin4", received, time.Since(start)}
}

func contendedMutex(per int) result {
	var mu sync.Mutex
	counter := 0
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if counter != 4*per {
		panic("lost increments")
	}
	return result{"mutex_contended4", 4 * per, elapsed}
}

func waitGroupFanOut(rounds, width int) result {
	start := time.Now()
	for r := 0; r < rounds; r++ {
		var wg sync.WaitGroup
		for i := 0; i < width; i++ {
			wg.Go(func() {})
		}
		wg.Wait()
	}
	return result{fmt.Sprintf("waitgroup_fanout%d", width), rounds * width, time.Since(start)}
}

func blockProfileCost(iterations int) []result {
	var out []result
	for _, rate := range []int{0, 1} {
		runtime.SetBlockProfileRate(rate)
		r := pingPong(iterations, 1)
		r.name = fmt.Sprintf("chan_pingpong_blockrate%d", rate)
		out = append(out, r)
	}
	runtime.SetBlockProfileRate(0)
	return out
}

func main() {
	size := -1
	if len(os.Args) > 2 {
		size, _ = strconv.Atoi(os.Args[2])
	}
	or := func(d int) int {
		if size > 0 {
			return size
		}
		return d
	}
	benchmarks := map[string]func() []result{
		"chan_pingpong":     func() []result { return []result{pingPong(or(1_000_000), 1), pingPong(or(1_000_000), 2)} },
		"chan_buffered":     func() []result { return []result{buffered(or(10_000_000), 1024)} },
		"select_fanin":      func() []result { return []result{selectFanIn(or(1_000_000))} },
		"mutex_contended":   func() []result { return []result{contendedMutex(or(1_000_000))} },
		"waitgroup_fanout":  func() []result { return []result{waitGroupFanOut(or(10_000), 100)} },
		"blockprofile_cost": func() []result { return blockProfileCost(or(1_000_000)) },
	}
	name := "help"
	if len(os.Args) > 1 {
		name = os.Args[1]
	}
	bench, ok := benchmarks[name]
	if !ok {
		var names []string
		for k := range benchmarks {
			names = append(names, k)
		}
		sort.Strings(names)
		fmt.Printf("usage: channels <%s> [size]\n", strings.Join(names, "|"))
		os.Exit(64)
	}
	for _, r := range bench() {
		fmt.Println(r.json())
	}
}
