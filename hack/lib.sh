# Shared helpers for hack/demo.sh and hack/e2e.sh (sourced, not run).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLUSTER="$ROOT/hack/localcluster/cluster.sh"
# Where cargo puts what it builds: ./target, or CARGO_TARGET_DIR, or a .cargo/config setting.
# Asked of cargo itself, so a developer's global CARGO_TARGET_DIR works.
TARGET_DIR="${TARGET_DIR:-$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')}"
export TARGET_DIR

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# start_simulator DIR [simulator args...]: starts cams-simulator on a free loopback port,
# sets SIM_PID and SIM_URL.
start_simulator() {
  local dir="$1"; shift
  rm -f "$dir/simulator.port"
  "$TARGET_DIR/debug/cams-simulator" --listen 127.0.0.1:0 --port-file "$dir/simulator.port" "$@" \
    >"$dir/simulator.log" 2>&1 &
  SIM_PID=$!
  for _ in $(seq 1 100); do
    [[ -s "$dir/simulator.port" ]] && break
    kill -0 "$SIM_PID" 2>/dev/null || { cat "$dir/simulator.log" >&2; echo "simulator exited" >&2; return 1; }
    sleep 0.1
  done
  [[ -s "$dir/simulator.port" ]] || { echo "simulator did not start; see $dir/simulator.log" >&2; return 1; }
  SIM_URL="http://127.0.0.1:$(cat "$dir/simulator.port")"
}

# stop_pid PID: SIGTERM, then SIGKILL after 10 s.
stop_pid() {
  local pid="$1"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# install_crd: applies crds/ and waits until the API server serves it.
install_crd() {
  "$KUBECTL" apply --server-side -f "$ROOT/crds/" >&2
  "$KUBECTL" wait --for=condition=Established --timeout=60s crd/chatgroups.cams.dev >&2
}
