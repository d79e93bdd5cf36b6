#!/usr/bin/env bash
# Runs the test suite under a sanitizer, in a build directory of its own (.build/<kind>).
#
#   scripts/sanitize.sh address|thread [--filter REGEX] [extra swift test arguments]
#
# address: AddressSanitizer (and LeakSanitizer) over the whole suite.
# thread:  ThreadSanitizer; the goroutine context switch announces every switch to TSan
#          (Sources/CStackSwitch/TSanFibers.c), so goroutine code can be checked for data races.
# Under either, the sanitizer owns malloc, so the heap sampler's interposer stays out and tests that
# need heap samples are skipped (SANITIZER_SKIP below, with the reason).
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-}"
case "$kind" in
    address|thread) shift ;;
    *) echo "usage: scripts/sanitize.sh address|thread [--filter REGEX] [swift test arguments]" >&2; exit 2 ;;
esac
scratch=".build/$kind"

# Tests that cannot pass under a sanitizer, and why.
skips=(
    # The sanitizer runtime owns malloc: the heap sampler sees no allocations (MallocInterpose.c).
    --skip 'HeapSampler|HeapProfile|HeapBench|testHeapAllocsAndThreadcreateTextFormats'
    # Timing budgets and allocation-count benchmarks measure the sanitizer, not the code.
    --skip 'Benchmark|SpeedMeasurement'
)

start=$(date +%s)
swift build --build-tests --scratch-path "$scratch" --sanitize="$kind" 2>&1 | grep -E "error:|Build complete" || true
built=$(date +%s)
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=0:handle_segv=0:allow_user_segv_handler=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=0:second_deadlock_stack=1:report_signal_unsafe=0}"
status=0
swift test --skip-build --scratch-path "$scratch" --sanitize="$kind" "${skips[@]}" "$@" || status=$?
end=$(date +%s)
echo "sanitize.sh $kind: build $((built - start)) s, tests $((end - built)) s, exit $status"
exit $status
