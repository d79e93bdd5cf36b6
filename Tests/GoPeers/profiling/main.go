// Go peer for the profile-encoding benchmark: builds the same 10,000-sample, 100-stack profile as
// Sources/ProfilingBench does, the way Go's runtime/pprof does it (PC -> location map, string table
// built on demand, write the body then the length, gzip at BestSpeed), with the standard library only.
// Prints one JSON line per measurement.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"
)

const (
	pcCount     = 400
	stackCount  = 100
	stackDepth  = 20
	sampleCount = 10000
	textBase    = 0x400000
)

type frame struct {
	name, file      string
	line, startLine int64
}

// Workload identical to the Swift side: return addresses and the frame each call site resolves to.
type workload struct {
	symbols map[uint64]frame // keyed by call-site PC (return address - 1)
	stacks  [][]uint64       // return addresses, leaf first
}

func makeWorkload() workload {
	w := workload{symbols: map[uint64]frame{}}
	for i := 0; i < pcCount; i++ {
		pc := uint64(textBase + i*0x40 + 0x10)
		w.symbols[pc] = frame{
			name:      fmt.Sprintf("BenchModule.Type%d.method%d(arg:)", i%37, i),
			file:      fmt.Sprintf("/src/bench/File%d.swift", i/10),
			line:      int64(i%500 + 1),
			startLine: int64(i % 500),
		}
	}
	for s := 0; s < stackCount; s++ {
		stack := make([]uint64, stackDepth)
		for d := 0; d < stackDepth; d++ {
			stack[d] = uint64(textBase+((s*7+d*13)%pcCount)*0x40+0x10) + 1
		}
		w.stacks = append(w.stacks, stack)
	}
	return w
}

// protoBuf is a protobuf writer: nested messages are written body first, then the key and length are
// inserted in front of the body.
type protoBuf struct {
	data []byte
	tmp  [16]byte
}

func (b *protoBuf) varint(x uint64) {
	for x >= 0x80 {
		b.data = append(b.data, byte(x)|0x80)
		x >>= 7
	}
	b.data = append(b.data, byte(x))
}

func (b *protoBuf) key(field int, wire int) { b.varint(uint64(field)<<3 | uint64(wire)) }

func (b *protoBuf) uint64Opt(field int, x uint64) {
	if x != 0 {
		b.key(field, 0)
		b.varint(x)
	}
}

func (b *protoBuf) int64Opt(field int, x int64) { b.uint64Opt(field, uint64(x)) }

func (b *protoBuf) uint64s(field int, xs []uint64) {
	if len(xs) > 2 {
		start := len(b.data)
		for _, x := range xs {
			b.varint(x)
		}
		b.finish(field, start)
		return
	}
	for _, x := range xs {
		b.key(field, 0)
		b.varint(x)
	}
}

func (b *protoBuf) int64s(field int, xs []int64) {
	if len(xs) > 2 {
		start := len(b.data)
		for _, x := range xs {
			b.varint(uint64(x))
		}
		b.finish(field, start)
		return
	}
	for _, x := range xs {
		b.key(field, 0)
		b.varint(uint64(x))
	}
}

func (b *protoBuf) str(field int, s string) {
	b.key(field, 2)
	b.varint(uint64(len(s)))
	b.data = append(b.data, s...)
}

// finish moves the body written since start behind its key and length.
func (b *protoBuf) finish(field int, start int) {
	bodyEnd := len(b.data)
	b.key(field, 2)
	b.varint(uint64(bodyEnd - start))
	header := len(b.data) - bodyEnd
	copy(b.tmp[:], b.data[bodyEnd:])
	copy(b.data[start+header:], b.data[start:bodyEnd])
	copy(b.data[start:], b.tmp[:header])
}

type funcKey struct {
	name, file string
	startLine  int64
}

// builder mirrors what runtime/pprof's profile builder keeps: strings, locations by PC, functions.
type builder struct {
	pb        protoBuf
	strings   []string
	stringIdx map[string]int64
	locs      map[uint64]uint64
	funcs     map[funcKey]uint64
	symbols   map[uint64]frame
}

func newBuilder(symbols map[uint64]frame) *builder {
	return &builder{strings: []string{""}, stringIdx: map[string]int64{"": 0}, locs: map[uint64]uint64{},
		funcs: map[funcKey]uint64{}, symbols: symbols}
}

func (b *builder) stringIndex(s string) int64 {
	if i, ok := b.stringIdx[s]; ok {
		return i
	}
	i := int64(len(b.strings))
	b.strings = append(b.strings, s)
	b.stringIdx[s] = i
	return i
}

func (b *builder) valueType(field int, typ, unit string) {
	start := len(b.pb.data)
	b.pb.int64Opt(1, b.stringIndex(typ))
	b.pb.int64Opt(2, b.stringIndex(unit))
	b.pb.finish(field, start)
}

// locationFor emits the location (and its function) the first time a PC is seen.
func (b *builder) locationFor(returnAddress uint64) uint64 {
	if id, ok := b.locs[returnAddress]; ok {
		return id
	}
	pc := returnAddress - 1
	fr := b.symbols[pc]
	key := funcKey{fr.name, fr.file, fr.startLine}
	funcID, ok := b.funcs[key]
	if !ok {
		funcID = uint64(len(b.funcs) + 1)
		b.funcs[key] = funcID
		start := len(b.pb.data)
		b.pb.uint64Opt(1, funcID)
		b.pb.int64Opt(2, b.stringIndex(fr.name))
		b.pb.int64Opt(3, b.stringIndex(fr.name))
		b.pb.int64Opt(4, b.stringIndex(fr.file))
		b.pb.int64Opt(5, fr.startLine)
		b.pb.finish(5, start)
	}
	id := uint64(len(b.locs) + 1)
	b.locs[returnAddress] = id
	start := len(b.pb.data)
	b.pb.uint64Opt(1, id)
	b.pb.uint64Opt(3, pc)
	lineStart := len(b.pb.data)
	b.pb.uint64Opt(1, funcID)
	b.pb.int64Opt(2, fr.line)
	b.pb.finish(4, lineStart)
	b.pb.uint64Opt(2, 1)
	b.pb.finish(4, start)
	return id
}

func encodeProfile(w workload, compress bool) []byte {
	b := newBuilder(w.symbols)
	b.valueType(11, "cpu", "nanoseconds")
	b.pb.int64Opt(12, 10000000)
	b.valueType(1, "samples", "count")
	b.valueType(1, "cpu", "nanoseconds")
	values := []int64{1, 10000000}
	locs := make([]uint64, 0, stackDepth)
	for i := 0; i < sampleCount; i++ {
		locs = locs[:0]
		for _, ra := range w.stacks[i%stackCount] {
			locs = append(locs, b.locationFor(ra))
		}
		start := len(b.pb.data)
		b.pb.int64s(2, values)
		b.pb.uint64s(1, locs)
		b.pb.finish(2, start)
	}
	b.pb.int64Opt(9, time.Now().UnixNano())
	start := len(b.pb.data)
	b.pb.uint64Opt(1, 1)
	b.pb.uint64Opt(2, textBase)
	b.pb.uint64Opt(3, textBase+0x100000)
	b.pb.int64Opt(5, b.stringIndex("/srv/bench"))
	b.pb.int64Opt(6, b.stringIndex("0011223344556677"))
	b.pb.uint64Opt(7, 1)
	b.pb.finish(3, start)
	for _, s := range b.strings {
		b.pb.str(6, s)
	}
	if !compress {
		return b.pb.data
	}
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestSpeed)
	zw.Write(b.pb.data)
	zw.Close()
	return out.Bytes()
}

func measure(name string, iterations int, run func() int) {
	run() // warm up
	times := make([]float64, iterations)
	size := 0
	for i := range times {
		start := time.Now()
		size = run()
		times[i] = float64(time.Since(start).Nanoseconds())
	}
	sort.Float64s(times)
	line, _ := json.Marshal(map[string]any{
		"peer": "go", "benchmark": name, "iterations": iterations, "median_ns": times[len(times)/2],
		"min_ns": times[0], "bytes": size, "samples": sampleCount, "stacks": stackCount,
	})
	fmt.Println(string(line))
}

func main() {
	iterations := flag.Int("iterations", 200, "timed runs per measurement")
	out := flag.String("write", "", "also write the gzipped profile to this file")
	flag.Parse()
	w := makeWorkload()
	if *out != "" {
		if err := os.WriteFile(*out, encodeProfile(w, true), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	measure("encode_proto", *iterations, func() int { return len(encodeProfile(w, false)) })
	measure("encode_proto_gzip", *iterations, func() int { return len(encodeProfile(w, true)) })
	encoded := encodeProfile(w, false)
	measure("gzip_only", *iterations, func() int {
		var out bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&out, gzip.BestSpeed)
		zw.Write(encoded)
		zw.Close()
		return out.Len()
	})
}
