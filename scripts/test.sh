#!/usr/bin/env bash
# The README's test command: set up a fresh machine if needed, build everything, run all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
bash scripts/validate-deploy.sh
swift build --build-tests
swift test --skip-build "$@"
