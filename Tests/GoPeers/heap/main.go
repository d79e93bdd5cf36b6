// Go peer of Sources/HeapBench: the same allocation-heavy workload (strings, slices, a linked list of
// structs, a map) with runtime.MemProfileRate at its default (512 KiB) and at 0, interleaved in one
// process and timed in thread CPU time, printing the same JSON lines.
//
//	cd Tests/GoPeers/heap && go run . [rounds]
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

type order struct {
	id       int
	customer string
	lines    []int
	next     *order
}

var sink *order
var checksum int

func threadCPUNanoseconds() int64 {
	var ts syscall.Timespec
	const clockThreadCPUTimeID = 3
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

func workload(iterations int) float64 {
	start := threadCPUNanoseconds()
	total := 0
	for i := 0; i < iterations; i++ {
		parts := []string{}
		for j := 0; j < 8; j++ {
			parts = append(parts, "customer-"+strconv.Itoa(i)+"-request-"+strconv.Itoa(j))
		}
		joined := strings.Join(parts, ",")
		lines := []int{}
		for k := 0; k < 32; k++ {
			lines = append(lines, k*i)
		}
		var head *order
		for k := 0; k < 6; k++ {
			head = &order{id: k, customer: parts[k], lines: append([]int(nil), lines...), next: head}
		}
		dictionary := map[string]int{}
		for index, part := range parts {
			dictionary[part] = index
		}
		sink = head
		total += len(joined) + len(head.lines) + len(dictionary)
	}
	checksum += total
	return float64(threadCPUNanoseconds()-start) / float64(iterations)
}

func median(values []float64) float64 {
	sorted := append([]float64(nil), values...)
	sort.Float64s(sorted)
	return sorted[len(sorted)/2]
}

func main() {
	runtime.LockOSThread() // thread CPU time must measure the goroutine doing the work
	rounds := 7
	if len(os.Args) > 1 {
		if n, err := strconv.Atoi(os.Args[1]); err == nil {
			rounds = n
		}
	}
	// The linker turns memory profiling off in binaries that never read a heap profile, so this peer
	// reads one at the end (as a service with net/http/pprof would) and uses Go's documented default.
	const defaultRate = 512 * 1024
	var off, on []float64
	workload(2000)
	for r := 0; r < rounds; r++ {
		runtime.MemProfileRate = 0
		off = append(off, workload(20000))
		runtime.MemProfileRate = defaultRate
		on = append(on, workload(20000))
	}
	fmt.Printf("{\"bench\":\"go_alloc_workload\",\"mode\":\"rate_0\",\"ns_per_iteration\":%.2f,\"rounds\":%d}\n", median(off), rounds)
	fmt.Printf("{\"bench\":\"go_alloc_workload\",\"mode\":\"rate_%d\",\"ns_per_iteration\":%.2f,\"rounds\":%d}\n", defaultRate, median(on), rounds)
	samples := 0
	if profile := pprof.Lookup("heap"); profile != nil {
		profile.WriteTo(io.Discard, 0)
		records := make([]runtime.MemProfileRecord, 4096)
		if n, ok := runtime.MemProfile(records, true); ok {
			for _, record := range records[:n] {
				samples += int(record.AllocObjects)
			}
		}
	}
	fmt.Printf("{\"bench\":\"go_alloc_workload\",\"samples\":%d}\n", samples)
	fmt.Printf("{\"bench\":\"go_alloc_workload\",\"slowdown_percent\":%.2f,\"checksum\":%d}\n", (median(on)/median(off)-1)*100, checksum&0xffff)
}
