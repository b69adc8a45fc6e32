#!/usr/bin/env bash
# `make bench`: proves the operator is cheap at 10,000 ChatGroups. Starts the local control
# plane and the CAMS simulator, loads the ChatGroups concurrently through the API with the
# operator stopped, then starts the operator (release build) and the clock for each scenario,
# and prints one table of figures. Writes bench/results/<date>.md and the README's
# Performance section. Not part of `make test`. Takes about 15 minutes on 2 cores.
#
# Observation is on in every scenario (the operator's defaults: one complete ListChatGroup
# scan per account every 10m, forced scans after its writes at most one per 15s). The bench
# fails (after printing the table, without touching the README) when an invariant breaks:
# ListChatGroup calls per complete scan other than ceil(N / page size), two scans of one
# account closer than --observe-min-interval, or other than one UpdateChatGroup per group
# edited out of band in the drift scenario.
#
# Environment (defaults are the issue's scenarios):
#   CAMS_BENCH_N           the large N (10000)         CAMS_BENCH_N_SMALL  the small N (1000)
#   CAMS_BENCH_WORK        scratch folder (.bench)     CAMS_BENCH_KEEP=1   keep it afterwards
#   CAMS_BENCH_README=0    do not update README.md
#   CAMS_BENCH_ONLY        only these scenarios, e.g. "converge-10k restart-10k" (labels as in
#                          the table: idle converge-1k converge-10k restart-10k drift-100
#                          unthrottled-10k; restart and drift expect converge-10k before them)
#   CAMS_BENCH_WRAP        a command the operator runs under, e.g. "heaptrack -o /tmp/op"
# A run with another N than 10,000, with CAMS_BENCH_ONLY or with CAMS_BENCH_WRAP leaves
# bench/results/ and README.md alone: its table and raw figures go to
# <cargo target dir>/bench-results/n<N>/.
set -euo pipefail
source "$(dirname "$0")/../hack/lib.sh"
cd "$ROOT"

N_LARGE="${CAMS_BENCH_N:-10000}"
N_SMALL="${CAMS_BENCH_N_SMALL:-1000}"
WORK="${CAMS_BENCH_WORK:-$ROOT/.bench}"
QPS=100            # CAMS limit: the operator's client limiter…
BUCKET=110         # …and the simulator's bucket (rate and size)
LATENCY_MS=50      # simulator latency, throttled scenarios
FAST_LATENCY_MS=10 # simulator latency, unthrottled scenario
CONCURRENCY=16     # >= QPS x latency (100 x 0.05 s = 5) with room for the API calls
FAST_CONCURRENCY=64
LOAD_CONCURRENCY=64
DRIFT_EDITS=100    # groups edited out of band in the drift scenario…
DRIFT_INTERVAL=60s # …under this --observe-interval
AK=bench-access-key-id
SK=bench-access-key-secret

label_n() { local n=$1; if ((n % 1000 == 0)); then echo "$((n / 1000))k"; else echo "$n"; fi; }
SMALL="$(label_n "$N_SMALL")"; LARGE="$(label_n "$N_LARGE")"

SIM_PID=""
started=$SECONDS
cleanup() {
  local rc=$?
  stop_pid "$SIM_PID"
  bash "$CLUSTER" down "$WORK/cluster" >/dev/null 2>&1 || true
  if [[ $rc -ne 0 ]]; then
    say "bench failed (exit $rc) after $((SECONDS - started))s; logs kept in $WORK"
  elif [[ "${CAMS_BENCH_KEEP:-0}" != 1 ]]; then
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
rm -rf "$WORK"; mkdir -p "$WORK"
RESULTS="$WORK/results.jsonl"

step=0; STEPS=12
next() { step=$((step + 1)); say "[$step/$STEPS] $* ($((SECONDS - started))s so far)"; }

next "building the release binaries and the bench harness (cargo build --release; first time: several minutes)"
cargo build --release --workspace --bins --example bench-loader 2>&1 | grep -E '^(error|warning: unused)|Compiling cams-operator|Finished' || true
[[ -x "$TARGET_DIR/release/cams-operator" && -x "$TARGET_DIR/release/examples/bench-loader" ]] || { echo "release build failed" >&2; exit 1; }
OP="$TARGET_DIR/release/cams-operator"
LOADER="$TARGET_DIR/release/examples/bench-loader"

next "building (or finding cached) the local control plane"
bash "$CLUSTER" build
next "starting kube-apiserver + etcd in $WORK/cluster"
bash "$CLUSTER" up "$WORK/cluster"
set -a; source "$WORK/cluster/env"; set +a
install_crd

next "starting the CAMS simulator (release build) and seeding its groups"
rm -f "$WORK/simulator.port"
"$TARGET_DIR/release/cams-simulator" --listen 127.0.0.1:0 --port-file "$WORK/simulator.port" \
  --access-key "$AK:$SK" --call-log-capacity 200000 >"$WORK/simulator.log" 2>&1 &
SIM_PID=$!
for _ in $(seq 1 100); do [[ -s "$WORK/simulator.port" ]] && break; sleep 0.1; done
[[ -s "$WORK/simulator.port" ]] || { cat "$WORK/simulator.log" >&2; echo "simulator did not start" >&2; exit 1; }
SIM_URL="http://127.0.0.1:$(cat "$WORK/simulator.port")"
say "simulator on $SIM_URL"
"$LOADER" seed --sim "$SIM_URL" --tenant "bench-$SMALL" --count "$N_SMALL" --latency-ms $LATENCY_MS --bucket-rate $BUCKET --bucket-burst $BUCKET
"$LOADER" seed --sim "$SIM_URL" --tenant "bench-$LARGE" --count "$N_LARGE" --latency-ms $LATENCY_MS --bucket-rate $BUCKET --bucket-burst $BUCKET
"$LOADER" seed --sim "$SIM_URL" --tenant "bench-fast" --count "$N_LARGE" --latency-ms $FAST_LATENCY_MS

next "loading $((N_SMALL + 2 * N_LARGE)) ChatGroups through the API ($LOAD_CONCURRENCY at once), operator stopped"
for spec in "bench-$SMALL:$N_SMALL" "bench-$LARGE:$N_LARGE" "bench-fast:$N_LARGE" "bench-idle:0"; do
  ns="${spec%%:*}"; n="${spec##*:}"
  "$LOADER" load --namespace "$ns" --count "$n" --concurrency $LOAD_CONCURRENCY \
    --tenant "$ns" --access-key-id "$AK" --access-key-secret "$SK" --out "$RESULTS"
done

# measure LABEL MODE NAMESPACE N PARAMS FLOOR_QPS [operator flags...]
# (MEASURE_ARGS: more arguments for the loader's measure, e.g. --edits)
MEASURE_ARGS=()
read -r -a WRAP <<<"${CAMS_BENCH_WRAP:-}"
ONLY="${CAMS_BENCH_ONLY:-}"
measure() {
  local label=$1 mode=$2 ns=$3 n=$4 params=$5 floor=$6; shift 6
  if [[ -n "$ONLY" && " $ONLY " != *" $label "* ]]; then
    say "skipped: $label (not in CAMS_BENCH_ONLY)"
    return 0
  fi
  local floor_args=()
  [[ -n "$floor" ]] && floor_args=(--floor-qps "$floor")
  "$LOADER" measure --mode "$mode" --label "$label" --params "$params" --namespace "$ns" \
    --count "$n" "${floor_args[@]}" "${MEASURE_ARGS[@]}" --sim "$SIM_URL" --tenant "$ns" --cluster-dir "$WORK/cluster" \
    --log "$WORK/operator-$label.log" --out "$RESULTS" -- \
    "${WRAP[@]}" "$OP" run --namespaces "$ns" --endpoint "$SIM_URL" --replica-id "bench-$label" \
    --log-format json --metrics-addr 127.0.0.1:0 --health-addr 127.0.0.1:0 "$@"
}
OBSERVE_DEFAULTS="observation on with the operator's defaults (--observe-interval 10m, --observe-min-interval 15s, --observe-page-size 100, --list-qps 5 --list-burst 10)"
THROTTLED="simulator latency ${LATENCY_MS} ms, CAMS limit ${QPS} QPS (operator --qps ${QPS} --burst 20, simulator bucket ${BUCKET}/s, size ${BUCKET}, one bucket for the tenant shared by UpdateChatGroup and ListChatGroup), --concurrency ${CONCURRENCY}; $OBSERVE_DEFAULTS"
FAST="simulator latency ${FAST_LATENCY_MS} ms, no CAMS limit (--qps 0, no bucket), --concurrency ${FAST_CONCURRENCY}; $OBSERVE_DEFAULTS"
DRIFT="after the restart, same namespace and tenant, all $N_LARGE Ready and in sync; operator flags as the converge but --observe-interval ${DRIFT_INTERVAL} (min interval 15s and --settle 2m: defaults); ${DRIFT_EDITS} groups' subjects changed through the simulator's admin API once the first complete scan is done"

next "idle: the operator on an empty namespace"
measure idle idle bench-idle 0 "empty namespace" "" --qps $QPS --concurrency $CONCURRENCY
next "cold converge, N=$N_SMALL (floor $((N_SMALL / QPS)) s)"
measure "converge-$SMALL" converge "bench-$SMALL" "$N_SMALL" "$THROTTLED" $QPS --qps $QPS --burst 20 --concurrency $CONCURRENCY
next "cold converge, N=$N_LARGE (floor $((N_LARGE / QPS)) s)"
measure "converge-$LARGE" converge "bench-$LARGE" "$N_LARGE" "$THROTTLED" $QPS --qps $QPS --burst 20 --concurrency $CONCURRENCY
next "restart with $N_LARGE synced ChatGroups (until its first complete scan is done)"
measure "restart-$LARGE" restart "bench-$LARGE" "$N_LARGE" "all $N_LARGE Ready and in sync; same flags as the converge" "" --qps $QPS --burst 20 --concurrency $CONCURRENCY
next "drift: $DRIFT_EDITS of $N_LARGE groups edited out of band, --observe-interval $DRIFT_INTERVAL (1-2 minutes)"
MEASURE_ARGS=(--edits "$DRIFT_EDITS")
measure "drift-$DRIFT_EDITS" drift "bench-$LARGE" "$N_LARGE" "$DRIFT" "" --qps $QPS --burst 20 --concurrency $CONCURRENCY --observe-interval "$DRIFT_INTERVAL"
MEASURE_ARGS=()
next "unthrottled converge, N=$N_LARGE"
measure "unthrottled-$LARGE" converge bench-fast "$N_LARGE" "$FAST" "" --qps 0 --concurrency $FAST_CONCURRENCY

next "criterion: signing one UpdateChatGroup request (cargo bench --bench signer)"
[[ -n "$ONLY" ]] || cargo bench --bench signer -- --warm-up-time 1 --measurement-time 3 2>&1 | grep -E 'Compiling cams|Finished|time:|sign_update' || true

say "results"
date_tag="$(date +%Y-%m-%d)"
readme_args=()
[[ "${CAMS_BENCH_README:-1}" == 1 && "$N_LARGE" == 10000 && -z "$ONLY" && ${#WRAP[@]} == 0 ]] &&
  readme_args=(--readme README.md)
# Only the issue's scenarios (N = 10,000) are results; a reduced run's go to the target dir.
if [[ "$N_LARGE" == 10000 && -z "$ONLY" && ${#WRAP[@]} == 0 ]]; then
  OUT_DIR=bench/results
else
  OUT_DIR="$TARGET_DIR/bench-results/n$N_LARGE"
fi
mkdir -p "$OUT_DIR"
report_rc=0
"$LOADER" report --results "$RESULTS" --criterion "$TARGET_DIR/criterion" \
  --markdown "$OUT_DIR/$date_tag.md" --wall-secs $((SECONDS - started)) "${readme_args[@]}" || report_rc=$?
cp "$RESULTS" "$OUT_DIR/$date_tag.jsonl"
if ((report_rc != 0)); then
  say "make bench FAILED: an invariant broke (see the lines marked !!!!!! above and the table)"
  exit "$report_rc"
fi
say "make bench done in $((SECONDS - started))s"
