#!/usr/bin/env bash
# `make demo`: the operator end to end on this machine, with nothing but the toolchains:
# builds what it needs, starts kube-apiserver + etcd and the CAMS simulator, installs the
# CRD, runs the operator, applies examples/, waits for Ready, prints the table, cleans up.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

WORK="$ROOT/.demo"
NS=demo
SIM_PID=""; OP_PID=""
cleanup() {
  local rc=$?
  say "cleaning up"
  stop_pid "$OP_PID"
  stop_pid "$SIM_PID"
  bash "$CLUSTER" down "$WORK/cluster" >/dev/null 2>&1 || true
  if [[ $rc -ne 0 ]]; then
    say "demo failed (exit $rc); logs kept in $WORK"
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
rm -rf "$WORK"; mkdir -p "$WORK"

say "[1/7] building cams-operator and cams-simulator (cargo build)"
cargo build --workspace --bins 2>&1 | tail -n 1
say "[2/7] building the local control plane from pinned Go modules (first time: several minutes; then cached)"
bash "$CLUSTER" build
say "[3/7] starting kube-apiserver + etcd on 127.0.0.1"
bash "$CLUSTER" up "$WORK/cluster"
set -a; source "$WORK/cluster/env"; set +a
say "[4/7] installing the ChatGroup CRD"
install_crd

say "[5/7] starting the CAMS simulator with the demo tenant and key"
cat >"$WORK/seed.json" <<JSON
{"accessKeys":[{"accessKeyId":"demo-access-key-id","accessKeySecret":"demo-access-key-secret"}],
 "groups":[{"custSpaceId":"cams-demo","businessNumber":"8613800001234","groupId":"EA303VIP","subject":"old subject"},
           {"custSpaceId":"cams-demo","businessNumber":"8613800001234","groupId":"EA303SALES"}]}
JSON
start_simulator "$WORK" --seed "$WORK/seed.json"

say "[6/7] running the operator and applying examples/ to namespace $NS"
"$KUBECTL" create namespace "$NS" >&2
"$TARGET_DIR/debug/cams-operator" run --namespaces "$NS" --endpoint "$SIM_URL" --log-format text \
  --replica-id demo --metrics-addr 127.0.0.1:0 --health-addr 127.0.0.1:0 >"$WORK/operator.log" 2>&1 &
OP_PID=$!
"$KUBECTL" apply -n "$NS" -f examples/ >&2

say "[7/7] waiting for every ChatGroup to be Ready"
if ! "$KUBECTL" wait -n "$NS" --for=condition=Ready chatgroups --all --timeout=90s >&2; then
  "$KUBECTL" get chatgroups -n "$NS" -o yaml >&2
  tail -n 50 "$WORK/operator.log" >&2
  exit 1
fi
echo
"$KUBECTL" get chatgroups -n "$NS"
echo
calls=$(curl -fsS "$SIM_URL/admin/calls" | python3 -c 'import json,sys; d=json.load(sys.stdin); d=d.get("calls", d) if isinstance(d, dict) else d; print(sum(1 for c in d if c.get("action")=="UpdateChatGroup"))')
say "the simulator received $calls UpdateChatGroup calls; demo done"
