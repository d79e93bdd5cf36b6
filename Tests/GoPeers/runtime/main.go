// Go peer of Sources/GoroutinesBench/RuntimeBenchmarks.swift: the same work, the same JSON lines.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

var sink int

// peakRSSKiB is VmHWM from /proc/self/status.
func peakRSSKiB() int { return procStatusKiB("VmHWM:") }

// currentRSSKiB is VmRSS: what is resident now (after a burst, shows whether memory went back).
func currentRSSKiB() int { return procStatusKiB("VmRSS:") }

func procStatusKiB(field string) int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), field) {
			n, _ := strconv.Atoi(strings.Fields(s.Text())[1])
			return n
		}
	}
	return 0
}

func emit(name string, ops int, elapsed time.Duration, extra map[string]float64) {
	fields := []string{
		fmt.Sprintf(`"name":"%s"`, name), `"impl":"go"`, fmt.Sprintf(`"ops":%d`, ops),
		fmt.Sprintf(`"wall_ms":%g`, float64(elapsed.Nanoseconds())/1e6),
		fmt.Sprintf(`"ns_per_op":%g`, float64(elapsed.Nanoseconds())/float64(ops)),
		fmt.Sprintf(`"peak_rss_kib":%d`, peakRSSKiB()),
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fields = append(fields, fmt.Sprintf(`"%s":%g`, k, extra[k]))
	}
	fmt.Println("{" + strings.Join(fields, ",") + "}")
}

// Go has no raw context-switch API: the closest is one goroutine calling Gosched with GOMAXPROCS=1
// (mcall, schedule, gogo back into the same goroutine).
func rawSwitch(n int) {
	runtime.GOMAXPROCS(1)
	start := time.Now()
	for i := 0; i < n; i++ {
		runtime.Gosched()
	}
	emit("raw_switch", n*2, time.Since(start), nil)
}

func spawnJoin(n int) {
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { wg.Done() }()
		wg.Wait()
	}
	emit("spawn_join", n, time.Since(start), nil)
}

func fibFan(n int) {
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			sink += 0 * fib(20)
			wg.Done()
		}()
	}
	wg.Wait()
	emit(fmt.Sprintf("fib20_x%d", n), n, time.Since(start), nil)
}

func parked(n int) {
	var gate, parkedWG, exited sync.WaitGroup
	gate.Add(1)
	start := time.Now()
	for i := 0; i < n; i++ {
		parkedWG.Add(1)
		exited.Add(1)
		go func() {
			parkedWG.Done()
			gate.Wait()
			exited.Done()
		}()
	}
	parkedWG.Wait()
	created := time.Now()
	rss := peakRSSKiB()
	gate.Done()
	exited.Wait()
	released := time.Now()
	rssReleased := currentRSSKiB()
	emit(fmt.Sprintf("parked_create_x%d", n), n, created.Sub(start),
		map[string]float64{"rss_parked_kib": float64(rss), "rss_per_goroutine_bytes": float64(rss*1024) / float64(n)})
	emit(fmt.Sprintf("parked_release_x%d", n), n, released.Sub(created),
		map[string]float64{"rss_after_release_kib": float64(rssReleased)})
}

func goschedPing(n int) {
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			for i := 0; i < n; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	emit("gosched_ping", n*2, time.Since(start), nil)
}

func sleepLag(n int) {
	lags := make([]int64, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			before := time.Now()
			time.Sleep(time.Millisecond)
			lags[i] = time.Since(before).Nanoseconds() - 1_000_000
			wg.Done()
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(lags, func(a, b int) bool { return lags[a] < lags[b] })
	emit(fmt.Sprintf("sleep1ms_x%d", n), n, elapsed, map[string]float64{
		"lag_p50_us": float64(lags[n/2]) / 1000, "lag_p99_us": float64(lags[n*99/100]) / 1000})
}

// Wake-up lag of a goroutine sleeping 1 ms, n times in a row, while GOMAXPROCS goroutines spin without
// ever yielding (they lose the CPU only to asynchronous preemption).
func hogSleepLag(n int) {
	procs := runtime.GOMAXPROCS(0)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < procs; i++ {
		wg.Add(1)
		go func() {
			for !stop.Load() {
			}
			wg.Done()
		}()
	}
	time.Sleep(time.Millisecond) // let the spinners take every P
	lags := make([]int64, 0, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		before := time.Now()
		time.Sleep(time.Millisecond)
		lags = append(lags, time.Since(before).Nanoseconds()-1_000_000)
	}
	elapsed := time.Since(start)
	stop.Store(true)
	wg.Wait()
	var total, worst int64
	for _, l := range lags {
		total += l
		if l > worst {
			worst = l
		}
	}
	emit(fmt.Sprintf("hog_sleep1ms_p%d_x%d", procs, n), n, elapsed, map[string]float64{
		"lag_mean_us": float64(total) / float64(n) / 1000, "lag_max_us": float64(worst) / 1000})
}

//go:noinline
func parkDeep(depth int, gate *sync.WaitGroup) {
	if depth == 0 {
		gate.Wait()
		return
	}
	parkDeep(depth-1, gate)
	sink += depth
}

func goroutineProfile(n int, diverse bool) {
	var gate, started sync.WaitGroup
	gate.Add(1)
	for i := 0; i < n; i++ {
		started.Add(1)
		go func(i int) {
			started.Done()
			d := 0
			if diverse {
				d = i % 50
			}
			parkDeep(d, &gate)
		}(i)
	}
	started.Wait()
	time.Sleep(200 * time.Millisecond)
	kind := "same"
	if diverse {
		kind = "diverse"
	}
	var buf bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&buf, 0)
	buf.Reset()
	start := time.Now()
	pprof.Lookup("goroutine").WriteTo(&buf, 0)
	emit(fmt.Sprintf("goroutine_profile_proto_%s_x%d", kind, n), n, time.Since(start), map[string]float64{"bytes": float64(buf.Len())})
	buf.Reset()
	start = time.Now()
	pprof.Lookup("goroutine").WriteTo(&buf, 2)
	emit(fmt.Sprintf("goroutine_profile_debug2_%s_x%d", kind, n), n, time.Since(start), map[string]float64{"bytes": float64(buf.Len())})
	gate.Done()
}

func main() {
	if len(os.Args) < 2 {
		fmt.Println("usage: runtime-peer <raw_switch|spawn_join|fib|parked|gosched_ping|sleep|hog_sleep> [size]")
		os.Exit(64)
	}
	size := func(d int) int {
		if len(os.Args) > 2 {
			if n, err := strconv.Atoi(os.Args[2]); err == nil {
				return n
			}
		}
		return d
	}
	switch os.Args[1] {
	case "raw_switch":
		rawSwitch(size(10_000_000))
	case "spawn_join":
		spawnJoin(size(200_000))
	case "fib":
		fibFan(size(100_000))
	case "parked":
		parked(size(100_000))
	case "gosched_ping":
		goschedPing(size(2_000_000))
	case "sleep":
		sleepLag(size(10_000))
	case "hog_sleep":
		hogSleepLag(size(50))
	case "goroutine_profile":
		goroutineProfile(size(10_000), false)
		goroutineProfile(size(10_000), true)
	default:
		fmt.Fprintln(os.Stderr, "unknown benchmark", os.Args[1])
		os.Exit(64)
	}
}
