#!/usr/bin/env bash
# The real-cluster tier: one local control plane and one CAMS simulator for the whole run;
# each test makes its own namespace and simulator tenant and starts its own operator process.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

WORK="${CAMS_E2E_WORKDIR:-$ROOT/.e2e}"
SIM_PID=""
cleanup() {
  local rc=$?
  stop_pid "$SIM_PID"
  bash "$CLUSTER" down "$WORK/cluster" >/dev/null 2>&1 || true
  if [[ $rc -ne 0 ]]; then
    say "e2e failed (exit $rc); logs kept in $WORK"
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
rm -rf "$WORK"; mkdir -p "$WORK"
# Progress of every test (figures they print) goes to the terminal and CI's log.
export RUST_TEST_NOCAPTURE=1

start=$SECONDS
say "building the local control plane (cached after the first run)"
bash "$CLUSTER" build
say "building helm and kstatus (cached after the first run)"
CAMS_E2E_HELM="$(bash "$ROOT/hack/helm.sh" bin)"
CAMS_E2E_KSTATUS="$(bash "$ROOT/hack/kstatus/build.sh")"
export CAMS_E2E_HELM CAMS_E2E_KSTATUS
say "starting kube-apiserver + etcd"
bash "$CLUSTER" up "$WORK/cluster"
set -a; source "$WORK/cluster/env"; set +a
install_crd

say "starting the CAMS simulator"
start_simulator "$WORK"
say "simulator on $SIM_URL"

say "building the e2e tests"
cargo test -p cams-operator --features e2e --test e2e --no-run 2>&1 | tail -n 3

export CAMS_E2E_SIMULATOR_URL="$SIM_URL"
export CAMS_E2E_OPERATOR_BIN="$TARGET_DIR/debug/cams-operator"
export CAMS_E2E_CLUSTER_DIR="$WORK/cluster"
export CAMS_E2E_CLUSTER_SH="$CLUSTER"
export CAMS_E2E_WORK="$WORK"
say "running the e2e tests"
# CAMS_E2E_FILTER narrows the run to tests whose name contains it (for iterating).
filter="${CAMS_E2E_FILTER:-}"
cargo test -p cams-operator --features e2e --test e2e -- $filter --skip disruptive_ --test-threads="${CAMS_E2E_THREADS:-4}"
if [[ -z "$filter" || "$filter" == disruptive* ]]; then
  say "running the disruptive e2e tests (API server restarts) one at a time"
  cargo test -p cams-operator --features e2e --test e2e -- disruptive_ --test-threads=1
fi
say "real-cluster tier passed in $((SECONDS - start))s"
