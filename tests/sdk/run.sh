#!/usr/bin/env bash
# Drives cams-simulator with the OFFICIAL Alibaba Cloud Python SDK (alibabacloud-cams20200606),
# an independent oracle for its signature checks (V3 ACS3-HMAC-SHA256, RPC HMAC-SHA1, STS).
#
#   bash tests/sdk/run.sh [pytest args...]
#
# - Creates a venv under $HOME/.cache/cams-operator/sdk-venv-<hash of requirements.txt> if it
#   is missing, and installs tests/sdk/requirements.txt into it.
# - Uses ${CAMS_SIMULATOR_BIN:-target/debug/cams-simulator}; without CAMS_SIMULATOR_BIN it
#   runs `cargo build -p cams-simulator` when the binary is absent or older than the sources
#   (crates/cams-simulator).
# - Uses ${CAMS_OPERATOR_BIN:-target/debug/cams-operator} (for `call --dry-run` and `call`
#   checked against the SDK); without CAMS_OPERATOR_BIN it runs `cargo build --bin
#   cams-operator` when the binary is absent or older than the sources (src/).
# - Starts the simulator on a free loopback port, runs test_official_sdk.py with pytest, and
#   stops the simulator on exit. Needs no stdin; works with CI=true.
set -euo pipefail

started=$(date +%s)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

log() { echo "sdk: $*"; }

# --- the venv ---------------------------------------------------------------------------------
python="${PYTHON:-python3}"
command -v "$python" >/dev/null || { log "no $python on PATH"; exit 1; }
requirements="$here/requirements.txt"
hash="$(sha256sum "$requirements" | cut -c1-16)"
cache="${HOME}/.cache/cams-operator"
venv="$cache/sdk-venv-$hash"
mkdir -p "$cache"
# One installer at a time per venv (parallel CI jobs share the home folder).
exec 9>"$venv.lock"
flock 9
if [[ -f "$venv/.complete" ]] && "$venv/bin/python" -c 'import alibabacloud_cams20200606, pytest' 2>/dev/null; then
    log "using venv $venv"
else
    log "creating venv $venv ($("$python" --version 2>&1))"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    log "installing $(grep -v '^#' "$requirements" | tr '\n' ' ')"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install --no-input --quiet \
        -r "$requirements" </dev/null
    touch "$venv/.complete"
    log "venv ready"
fi
flock -u 9

# --- the simulator binary ---------------------------------------------------------------------
if [[ -n "${CAMS_SIMULATOR_BIN:-}" ]]; then
    bin="$CAMS_SIMULATOR_BIN"
    [[ -x "$bin" ]] || { log "CAMS_SIMULATOR_BIN=$bin is not an executable"; exit 1; }
else
    bin="${CARGO_TARGET_DIR:-target}/debug/cams-simulator"
    if [[ ! -x "$bin" ]] || [[ -n "$(find crates/cams-simulator Cargo.toml Cargo.lock -newer "$bin" -print -quit 2>/dev/null)" ]]; then
        log "building $bin (cargo build -p cams-simulator)"
        cargo build --quiet -p cams-simulator --bin cams-simulator </dev/null
    fi
fi
log "simulator binary $bin"

# --- the operator binary ----------------------------------------------------------------------
if [[ -n "${CAMS_OPERATOR_BIN:-}" ]]; then
    operator_bin="$CAMS_OPERATOR_BIN"
    [[ -x "$operator_bin" ]] || { log "CAMS_OPERATOR_BIN=$operator_bin is not an executable"; exit 1; }
else
    operator_bin="${CARGO_TARGET_DIR:-target}/debug/cams-operator"
    if [[ ! -x "$operator_bin" ]] || [[ -n "$(find src Cargo.toml Cargo.lock -newer "$operator_bin" -print -quit 2>/dev/null)" ]]; then
        log "building $operator_bin (cargo build --bin cams-operator)"
        cargo build --quiet --bin cams-operator </dev/null
    fi
fi
operator_bin="$(cd "$(dirname "$operator_bin")" && pwd)/$(basename "$operator_bin")"
log "operator binary $operator_bin"

# --- start it ---------------------------------------------------------------------------------
work="$(mktemp -d)"
sim_pid=""
cleanup() {
    local status=$?
    if [[ -n "$sim_pid" ]] && kill -0 "$sim_pid" 2>/dev/null; then
        kill -TERM "$sim_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$sim_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$sim_pid" 2>/dev/null; then
            log "simulator did not stop on SIGTERM; killing it"
            kill -KILL "$sim_pid" 2>/dev/null || true
        fi
        wait "$sim_pid" 2>/dev/null || true
    fi
    if [[ $status -ne 0 && -s "$work/simulator.log" ]]; then
        log "simulator log (last 40 lines):"
        tail -n 40 "$work/simulator.log" | sed 's/^/  | /'
    fi
    rm -rf "$work"
    log "finished in $(( $(date +%s) - started ))s (exit $status)"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

RUST_LOG="${RUST_LOG:-info}" "$bin" --listen 127.0.0.1:0 --port-file "$work/port" \
    >"$work/stdout" 2>"$work/simulator.log" </dev/null &
sim_pid=$!
for _ in $(seq 1 300); do
    [[ -s "$work/port" ]] && break
    kill -0 "$sim_pid" 2>/dev/null || { log "simulator exited before listening"; exit 1; }
    sleep 0.1
done
[[ -s "$work/port" ]] || { log "simulator did not write its port within 30s"; exit 1; }
port="$(cat "$work/port")"
# The port file is written just before the banner; wait for the banner too.
for _ in $(seq 1 50); do
    grep -q "cams-simulator listening on http://127.0.0.1:$port" "$work/stdout" && break
    sleep 0.1
done
log "$(head -n 1 "$work/stdout")"

# --- the tests --------------------------------------------------------------------------------
export CAMS_SIMULATOR_URL="http://127.0.0.1:$port"
export CAMS_OPERATOR_BIN="$operator_bin"
# Never send loopback traffic through a proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"
export PYTHONDONTWRITEBYTECODE=1
"$venv/bin/python" -m pytest -p no:cacheprovider -q "$here/test_official_sdk.py" "$@" </dev/null
