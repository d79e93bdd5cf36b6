#!/usr/bin/env bash
# Serving benchmark: the debug server (Tests/ServingBench, release build) beside Go 1.27's net/http/pprof
# (Tests/GoPeers/pprofpeer), each with 10,000 goroutines parked, both on loopback. wrk measures the
# index page, goroutine?debug=1 and the goroutine profile.proto, interleaved route by route (Swift, then
# Go) so both see the same machine. Prints wrk's numbers as JSON lines, then a table with Swift/Go ratios.
# Usage: scripts/bench-serving.sh            env: BENCH_SECONDS (5), BENCH_CONNECTIONS (16),
#                                                 BENCH_THREADS (2), BENCH_GOROUTINES (10000)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
seconds="${BENCH_SECONDS:-5}"
connections="${BENCH_CONNECTIONS:-16}"
threads="${BENCH_THREADS:-2}"
goroutines="${BENCH_GOROUTINES:-10000}"
command -v wrk >/dev/null || { echo "bench-serving: wrk is not installed (apt-get install wrk)" >&2; exit 1; }

swift build -c release --product ServingBench >&2
scratch="$(mktemp -d)"
(cd Tests/GoPeers/pprofpeer && go build -o "$scratch/pprofpeer" .)

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT

# Starts a server that prints "listening <addr>" when ready; sets $address.
start() {
    local log="$scratch/$1.log"; shift
    "$@" > "$log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 600); do
        address="$(sed -n 's/^listening \(.*\)$/\1/p' "$log")"
        [ -n "$address" ] && return 0
        sleep 0.1
    done
    echo "bench-serving: $1 did not start:" >&2; cat "$log" >&2; exit 1
}
start swift .build/release/ServingBench 127.0.0.1:0 "$goroutines"; swift_base="http://$address"
start go "$scratch/pprofpeer" 127.0.0.1:0 "$goroutines"; go_base="http://$address"

# Both servers must really see the parked goroutines before anything is measured.
for base in "$swift_base" "$go_base"; do
    total="$(curl -sf "$base/debug/pprof/goroutine?debug=1" | sed -n 's/^goroutine profile: total //p')"
    if [ "${total:-0}" -le "$goroutines" ]; then
        echo "bench-serving: $base reports ${total:-no} goroutines, expected more than $goroutines" >&2; exit 1
    fi
done

field() { awk -v label="$1" '$1 == label { print $2; exit }'; }
out="$scratch/results.jsonl"
for route in "index /debug/pprof/" "goroutine_debug1 /debug/pprof/goroutine?debug=1" "goroutine_proto /debug/pprof/goroutine"; do
    set -- $route
    for side in swift go; do
        base="$swift_base"; [ "$side" = go ] && base="$go_base"
        text="$(wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency "$base$2")"
        rps="$(printf '%s\n' "$text" | field Requests/sec:)"
        avg="$(printf '%s\n' "$text" | field Latency)"
        p50="$(printf '%s\n' "$text" | field 50%)"
        p99="$(printf '%s\n' "$text" | field 99%)"
        errors="$(printf '%s\n' "$text" | sed -n 's/.*Non-2xx or 3xx responses: \([0-9]*\).*/\1/p')"
        socket_errors="$(printf '%s\n' "$text" | sed -n 's/.*Socket errors: \(.*\)$/\1/p')"
        line="{\"bench\":\"serving_$1\",\"server\":\"$side\",\"rps\":$rps,\"latency_avg\":\"$avg\",\"p50\":\"$p50\",\"p99\":\"$p99\",\"non_2xx\":${errors:-0},\"socket_errors\":\"${socket_errors:-none}\"}"
        echo "$line" | tee -a "$out"
    done
done

echo
echo "wrk -t$threads -c$connections -d${seconds}s --latency, $goroutines parked goroutines, loopback"
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
by = {}
for row in rows:
    by.setdefault(row["bench"], {})[row["server"]] = row
print(f"| {'route':<26} | {'Swift req/s':>11} | {'Go req/s':>9} | {'Swift/Go':>8} | {'Swift avg / p99':>17} | {'Go avg / p99':>17} |")
print(f"|{'-'*28}|{'-'*13}|{'-'*11}|{'-'*10}|{'-'*19}|{'-'*19}|")
names = {"serving_index": "/debug/pprof/", "serving_goroutine_debug1": "goroutine?debug=1",
         "serving_goroutine_proto": "goroutine (proto)"}
for bench, sides in by.items():
    s, g = sides["swift"], sides["go"]
    ratio = s["rps"] / g["rps"] if g["rps"] else float("nan")
    print(f"| {names.get(bench, bench):<26} | {s['rps']:>11.0f} | {g['rps']:>9.0f} | {ratio:>7.2f}x | "
          f"{s['latency_avg'] + ' / ' + s['p99']:>17} | {g['latency_avg'] + ' / ' + g['p99']:>17} |")
    for side in (s, g):
        if side["non_2xx"] or side["socket_errors"] != "none":
            print(f"  warning: {side['server']} {bench}: non-2xx {side['non_2xx']}, socket errors {side['socket_errors']}")
PY
