#!/usr/bin/env bash
# Fuzzes the debug server's network-facing parsers with libFuzzer, each target for a bounded time.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 30 s; targets http1 chunked connection query)
#
# Builds Tests/Fuzz/DebugServerFuzz with -sanitize=fuzzer and AddressSanitizer into .build/fuzz (its
# own scratch directory, so the ordinary build is untouched), then runs each target on a copy of its
# seed corpus in Tests/Fuzz/corpus/<target>. A crash leaves crash-* in .build/fuzz/findings/<target>
# and makes the script exit non-zero; replay one with
#   swift build --product DebugServerFuzz && .build/debug/DebugServerFuzz <target> <crash file>
# New inputs that libFuzzer found stay in .build/fuzz/corpus/<target> (copy good ones into the repo).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(http1 chunked connection query)

swift build --scratch-path .build/fuzz --product DebugServerFuzz \
    --sanitize=fuzzer --sanitize=address -Xswiftc -DFUZZING 2>&1 | grep -E "error|warning: unre|Compiling DebugServerFuzz|Build complete" || true
binary=.build/fuzz/debug/DebugServerFuzz
[ -x "$binary" ] || { echo "fuzz build failed" >&2; exit 1; }

status=0
for target in "${targets[@]}"; do
    corpus=.build/fuzz/corpus/$target
    findings=.build/fuzz/findings/$target
    mkdir -p "$corpus" "$findings"
    cp -n Tests/Fuzz/corpus/"$target"/* "$corpus"/ 2>/dev/null || true
    echo "== $target: ${seconds}s"
    # leaks: the runtime's caches live for the process; -rss_limit_mb bounds real growth instead.
    if ! FUZZ_TARGET="$target" ASAN_OPTIONS=detect_leaks=0 "$binary" "$corpus" \
            -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
            -artifact_prefix="$findings/" -print_final_stats=1 2>"$findings/log"; then
        echo "!! $target failed; see $findings/log and crash-* there" >&2
        tail -30 "$findings/log" >&2
        status=1
    else
        grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$findings/log" | sed "s/^/   /"
    fi
done
exit $status
