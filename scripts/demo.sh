#!/usr/bin/env bash
# The README's main command: set up a fresh machine if needed, build the demo service, run it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
swift build -c release --product goroutines-demo
exec .build/release/goroutines-demo "$@"
