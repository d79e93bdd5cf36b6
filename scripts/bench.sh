#!/usr/bin/env bash
# Runtime and channel benchmarks, Swift (goroutines-bench) beside the Go peers doing the same work
# (Tests/GoPeers/runtime, Tests/GoPeers/channels), interleaved (Swift, Go, Swift, Go, …) so both see the
# same machine. Prints the JSON lines, then a table of medians and Swift/Go ratios.
# Usage: scripts/bench.sh [rounds] [benchmark ...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
rounds="${1:-3}"; shift || true
benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=(raw_switch spawn_join gosched_ping sleep hog_sleep fib parked goroutine_profile
    chan_pingpong chan_buffered select_fanin mutex_contended waitgroup_fanout blockprofile_cost
    net_echo_rtt net_echo_throughput net_accept_rate net_idle_conns)
swift build -c release --product goroutines-bench >&2
peers="$(mktemp -d)"
(cd Tests/GoPeers/runtime && go build -o "$peers/runtime" .)
(cd Tests/GoPeers/channels && go build -o "$peers/channels" .)
(cd Tests/GoPeers/net && go build -o "$peers/net" .)
peer_for() {
    case "$1" in
        chan_*|select_*|mutex_*|waitgroup_*|blockprofile_*) echo "$peers/channels" ;;
        net_*) echo "$peers/net" ;;
        *) echo "$peers/runtime" ;;
    esac
}
out="$(mktemp)"
for b in "${benches[@]}"; do
    for ((r = 0; r < rounds; r++)); do
        .build/release/goroutines-bench "$b" | tee -a "$out"
        "$(peer_for "$b")" "$b" | tee -a "$out"
    done
done
python3 scripts/bench-table.py < "$out"
