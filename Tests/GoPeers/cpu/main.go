// Go peer of Sources/CPUProfileBench: the same CPU-bound work (FNV-1a hashing of a buffer that changes
// every round, three calls deep) with CPU profiling off and at 100 Hz (pprof.StartCPUProfile into
// io.Discard), interleaved, printing the same JSON lines.
//
//	cd Tests/GoPeers/cpu && go run . [pairs]
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

func clockNanos(id uintptr) int64 {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, id, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

const (
	clockProcessCPUTimeID = 2
	clockThreadCPUTimeID  = 3
)

//go:noinline
func fnv1a(buffer []byte) uint64 {
	hash := uint64(0xcbf29ce484222325)
	for _, b := range buffer {
		hash ^= uint64(b)
		hash *= 0x100000001b3
	}
	return hash
}

//go:noinline
func mutateAndHash(buffer []byte, round int) uint64 {
	buffer[round%len(buffer)] += byte(round)
	return fnv1a(buffer)
}

//go:noinline
func workload(rounds int) uint64 {
	buffer := make([]byte, 4096)
	for i := range buffer {
		buffer[i] = byte(i * 31)
	}
	var checksum uint64
	for round := 0; round < rounds; round++ {
		checksum ^= mutateAndHash(buffer, round)
	}
	return checksum
}

type measurement struct{ wall, threadCPU, processCPU int64 }

func measure(rounds int, profiled bool) measurement {
	if profiled {
		if err := pprof.StartCPUProfile(io.Discard); err != nil {
			panic(err)
		}
	}
	wall0, thread0, process0 := time.Now(), clockNanos(clockThreadCPUTimeID), clockNanos(clockProcessCPUTimeID)
	checksum := workload(rounds)
	thread1, process1, wall1 := clockNanos(clockThreadCPUTimeID), clockNanos(clockProcessCPUTimeID), time.Now()
	if profiled {
		pprof.StopCPUProfile()
	}
	if checksum == 42 {
		panic("unlikely")
	}
	return measurement{wall1.Sub(wall0).Nanoseconds(), thread1 - thread0, process1 - process0}
}

func median(values []float64) float64 {
	sorted := append([]float64(nil), values...)
	sort.Float64s(sorted)
	if len(sorted) == 0 {
		return 0
	}
	return sorted[len(sorted)/2]
}

func main() {
	runtime.LockOSThread() // thread CPU time is the worker's own
	pairs := 7
	if len(os.Args) > 1 {
		if n, err := strconv.Atoi(os.Args[1]); err == nil {
			pairs = n
		}
	}
	const rounds = 120_000
	workload(rounds / 4)
	var cpus, processes, walls []float64
	for pair := 0; pair < pairs; pair++ {
		var off, on measurement
		order := []bool{false, true}
		if pair%2 == 1 {
			order = []bool{true, false}
		}
		for _, profiled := range order {
			m := measure(rounds, profiled)
			if profiled {
				on = m
			} else {
				off = m
			}
		}
		cpu := float64(on.threadCPU-off.threadCPU) / float64(off.threadCPU) * 100
		process := float64(on.processCPU-off.processCPU) / float64(off.processCPU) * 100
		wall := float64(on.wall-off.wall) / float64(off.wall) * 100
		cpus, processes, walls = append(cpus, cpu), append(processes, process), append(walls, wall)
		fmt.Printf("{\"name\":\"cpu_profile_overhead_pair\",\"impl\":\"go\",\"rate\":100,\"off_cpu_ms\":%g,\"on_cpu_ms\":%g,\"off_wall_ms\":%g,\"on_wall_ms\":%g,\"thread_cpu_overhead_pct\":%g,\"process_cpu_overhead_pct\":%g,\"wall_overhead_pct\":%g}\n",
			float64(off.threadCPU)/1e6, float64(on.threadCPU)/1e6, float64(off.wall)/1e6, float64(on.wall)/1e6, cpu, process, wall)
	}
	fmt.Printf("{\"name\":\"cpu_profile_overhead\",\"impl\":\"go\",\"rate\":100,\"pairs\":%d,\"median_thread_cpu_overhead_pct\":%g,\"median_process_cpu_overhead_pct\":%g,\"median_wall_overhead_pct\":%g}\n",
		pairs, median(cpus), median(processes), median(walls))
}
