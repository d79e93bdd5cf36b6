#!/usr/bin/env bash
# Generates the API reference (DocC) for the Goroutines, Profiling and DebugServer modules into
# .build/docs/<Module>.doccarchive, from the toolchain's own `docc` and SwiftPM's symbol graphs: no
# package dependency (swift-docc-plugin) needed. Open with `docc preview` or serve the archive statically;
# `--check` prints DocC's documentation-coverage summary per module instead.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.build/docs
mkdir -p "$out"
swift package dump-symbol-graph --minimum-access-level public >/dev/null
graphs=$(find .build -path '*symbolgraph*' -type d -name 'symbolgraph' | head -1)
status=0
for module in Goroutines Profiling DebugServer; do
    dir=$(mktemp -d)
    cp "$graphs/$module".symbols.json "$graphs/$module"@*.symbols.json "$dir"/ 2>/dev/null || true
    if [ "${1:-}" = "--check" ]; then
        docc convert --additional-symbol-graph-dir "$dir" --fallback-display-name "$module" \
            --fallback-bundle-identifier "goroutines.$module" --output-path "$dir/archive" \
            --experimental-documentation-coverage --coverage-summary-level brief 2>&1 | tee "$dir/coverage.txt" | tail -5
    else
        docc convert --additional-symbol-graph-dir "$dir" --fallback-display-name "$module" \
            --fallback-bundle-identifier "goroutines.$module" --output-path "$out/$module.doccarchive" \
            --transform-for-static-hosting >/dev/null
        echo "docs: $out/$module.doccarchive"
    fi
    rm -rf "$dir"
done
exit $status
