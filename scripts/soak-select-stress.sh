#!/usr/bin/env bash
# Runs Go's TestSelectStress port (SelectGoSemanticsTests.testSelectStress) N times in a row, each in a
# fresh test process (so GOMAXPROCS grows to 10 anew every time), and stops at the first failure.
# Usage: scripts/soak-select-stress.sh [runs=100]
set -uo pipefail
cd "$(dirname "$0")/.."
runs="${1:-100}"
swift build --build-tests >&2 || exit 1
# A private copy, so rebuilding the package while the soak runs does not change what is tested.
copy="$(mktemp -d)"
trap 'rm -rf "$copy"' EXIT
cp .build/debug/GoroutinesPackageTests.xctest "$copy/"
bundle="$copy/GoroutinesPackageTests.xctest"
for ((i = 1; i <= runs; i++)); do
    if ! out="$("$bundle" GoroutinesTests.SelectGoSemanticsTests/testSelectStress 2>&1)" \
        || ! grep -q "Executed 1 test, with 0 failures" <<< "$out"; then
        echo "run $i of $runs FAILED:"
        echo "$out" | tail -30
        exit 1
    fi
    echo "run $i: ok"
done
echo "$runs consecutive runs clean"
