#!/usr/bin/env bash
# The README's test command: set up a fresh machine if needed, build everything, run all tests.
#   scripts/test.sh                 everything CI runs (below)
#   scripts/test.sh --filter X      only the XCTest cases matching X (no fuzzing, no GOMAXPROCS passes)
# FUZZ_SECONDS (default 20) bounds each libFuzzer target; 0 skips fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
if [ $# -gt 0 ]; then
    swift build --build-tests
    exec swift test --skip-build "$@"
fi
bash scripts/validate-deploy.sh
swift build --build-tests
# The network-facing parsers, fuzzed for a bounded time each (crashers fail the run).
if [ "${FUZZ_SECONDS:-20}" -gt 0 ]; then bash scripts/fuzz.sh "${FUZZ_SECONDS:-20}"; fi
# Go's own tests, ported, at GOMAXPROCS 1, 2 and 4 (the full suite below runs them at the default too).
for procs in 1 2 4; do
    echo "== GoSemanticsTests at GOMAXPROCS=$procs"
    log=$(mktemp)
    if ! GOMAXPROCS=$procs swift test --skip-build --filter GoSemanticsTests > "$log" 2>&1; then
        grep -aE "error:|Fatal error|Test Case .* started" "$log" | tail -n 40
        echo "GoSemanticsTests failed at GOMAXPROCS=$procs" >&2
        exit 1
    fi
    grep -aE "Executed [0-9]+ tests" "$log" | tail -n 1
    rm -f "$log"
done
# Last, so its summary line closes the run.
swift test --skip-build
