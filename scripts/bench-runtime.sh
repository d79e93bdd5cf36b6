#!/usr/bin/env bash
# Runtime benchmarks, Swift and the Go peer side by side, interleaved (Swift, Go, Swift, Go, …) so both
# see the same machine. Prints the JSON lines, then a table of Swift/Go ratios (medians of the rounds).
# Usage: scripts/bench-runtime.sh [rounds] [benchmark ...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
rounds="${1:-3}"; shift || true
benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=(raw_switch spawn_join gosched_ping sleep fib parked)
swift build -c release --product goroutines-bench >&2
peer="$(mktemp -d)/runtime-peer"
(cd Tests/GoPeers/runtime && go build -o "$peer" .)
out="$(mktemp)"
for b in "${benches[@]}"; do
    for ((r = 0; r < rounds; r++)); do
        .build/release/goroutines-bench "$b" | tee -a "$out"
        "$peer" "$b" | tee -a "$out"
    done
done
python3 scripts/bench-table.py < "$out"
