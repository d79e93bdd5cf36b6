#!/usr/bin/env bash
# Soak test of the debug server (not CI): the demo scraped the way Parca and Grafana Alloy do by
# default, with RSS and open descriptors recorded every minute and their slope after warm-up.
#
#   scripts/soak.sh MINUTES [WARMUP_MINUTES]     (warm-up default: a third of the run, at least 2)
#   SOAK_TARGET=serving scripts/soak.sh MINUTES  scrape Tests/ServingBench instead of the demo: 10,000
#                                                parked goroutines and nothing else, so any growth is the
#                                                debug server's and the profiles' own
#
# Parca: every 10 s allocs, block, goroutine, mutex and profile?seconds=10 (deadline 13 s).
# Alloy: every 15 s allocs, block, goroutine, mutex and profile?seconds=14 (deadline 24 s).
# Only one CPU profile runs at a time, so the two CPU scrapers take turns (the other gets Go's 500);
# the status counts are printed at the end. Output goes to .build/soak/ (samples.tsv, statuses, demo log).
#
# The demo leaks on purpose (it keeps 1 in 100 churned buffers and leaks a goroutine every 200 ms, so
# the heap and goroutine profiles have something to show): ~17-20 MB/min whether scraped or not. A
# second, unscraped demo runs alongside as the control; the server's own cost is the difference of
# the two slopes.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:?usage: scripts/soak.sh MINUTES [WARMUP_MINUTES]}"
warmup="${2:-$(( minutes / 3 > 2 ? minutes / 3 : 2 ))}"
out=.build/soak
mkdir -p "$out"
rm -f "$out"/statuses "$out"/samples.tsv

case "${SOAK_TARGET:-demo}" in
    demo) product=goroutines-demo ;;
    serving) product=ServingBench ;;
    *) echo "SOAK_TARGET is demo or serving" >&2; exit 2 ;;
esac
swift build --product "$product" 2>&1 | grep -E "error|Build complete" || true
demo=.build/debug/$product
[ -x "$demo" ] || { echo "no $product binary" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# start ADDRESS LOG: the demo takes --addr, ServingBench its address as the first argument.
start() {
    if [ "$product" = ServingBench ]; then "$demo" "$1" >"$2" 2>&1 &
    else "$demo" --addr "$1" >"$2" 2>&1 &
    fi
}
start "127.0.0.1:$port" "$out/demo.log"
demo_pid=$!
start 127.0.0.1:0 "$out/control.log"
control_pid=$!
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    kill "$demo_pid" "$control_pid" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/debug/pprof/" && break; sleep 0.1; done
base="http://127.0.0.1:$port/debug/pprof"

# scraper NAME INTERVAL CPU_SECONDS DEADLINE
scraper() {
    local name=$1 interval=$2 cpu=$3 deadline=$4
    while true; do
        local started=$SECONDS
        for path in allocs block goroutine mutex; do
            code=$(curl -s -o /dev/null -w '%{http_code}' --max-time "$deadline" "$base/$path" || echo 000)
            echo "$name $path $code" >>"$out/statuses"
        done
        ( code=$(curl -s -o /dev/null -w '%{http_code}' --max-time "$deadline" "$base/profile?seconds=$cpu" || echo 000)
          echo "$name profile $code" >>"$out/statuses" ) &
        local rest=$(( interval - (SECONDS - started) ))
        [ "$rest" -gt 0 ] && sleep "$rest"
    done
}
scraper parca 10 10 13 & pids+=($!)
scraper alloy 15 14 24 & pids+=($!)

page=$(getconf PAGESIZE)
printf "minute\trss_mb\tfds\tcontrol_rss_mb\n" | tee "$out/samples.tsv"
for minute in $(seq 0 "$minutes"); do
    [ "$minute" -gt 0 ] && sleep 60
    kill -0 "$demo_pid" 2>/dev/null || { echo "the demo died; see $out/demo.log" >&2; exit 1; }
    rss=$(awk -v page="$page" '{ printf "%.1f", $2 * page / 1048576 }' /proc/$demo_pid/statm)
    fds=$(ls /proc/$demo_pid/fd | wc -l)
    control=$(awk -v page="$page" '{ printf "%.1f", $2 * page / 1048576 }' /proc/$control_pid/statm)
    printf "%d\t%s\t%d\t%s\n" "$minute" "$rss" "$fds" "$control" | tee -a "$out/samples.tsv"
done

python3 - "$out/samples.tsv" "$warmup" <<'PY'
import sys
rows = [line.split("\t") for line in open(sys.argv[1]).read().split("\n")[1:] if line]
warm = int(sys.argv[2])
points = [(float(m), float(r), float(f), float(c)) for m, r, f, c in rows if int(m) >= warm]
def slope(pairs):
    n = len(pairs)
    if n < 2: return float("nan")
    mx = sum(x for x, _ in pairs) / n; my = sum(y for _, y in pairs) / n
    den = sum((x - mx) ** 2 for x, _ in pairs)
    return sum((x - mx) * (y - my) for x, y in pairs) / den
scraped = slope([(p[0], p[1]) for p in points])
control = slope([(p[0], p[3]) for p in points])
print(f"after {warm} min warm-up, {len(points)} samples: RSS slope scraped {scraped:+.3f} MB/min, "
      f"unscraped control {control:+.3f} MB/min, scraping's share {scraped - control:+.3f} MB/min; "
      f"FD slope {slope([(p[0], p[2]) for p in points]):+.3f} /min")
PY
echo "statuses (scraper path code count):"
sort "$out/statuses" | uniq -c | sort -rn | awk '{ print "  " $2, $3, $4, $1 }'
