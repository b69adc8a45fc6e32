#!/usr/bin/env bash
# Local Kubernetes control plane (etcd + kube-apiserver + kubectl) built from pinned
# upstream Go modules. No Docker, no kubelet, no controller-manager, no scheduler.
# See hack/localcluster/README.md. Everything listens on 127.0.0.1 only.
#
# Usage: cluster.sh <command> [args]
#   build                                        build binaries into the cache (no-op if cached)
#   bin                                          print the cache bin dir (builds first if needed)
#   up DIR                                       start etcd + kube-apiserver with state in DIR
#   down DIR                                     stop kube-apiserver, then etcd (idempotent)
#   restart-apiserver DIR                        restart only kube-apiserver (same flags/port/keys)
#   token DIR NAMESPACE SERVICEACCOUNT [DURATION] ensure ns + SA exist, print a TokenRequest token
#   kubeconfig-for-token DIR TOKEN OUTFILE       write a kubeconfig that uses TOKEN
#   status DIR                                   show whether the processes are running
#
# Human-readable progress goes to stderr; stdout carries only results (bin dir, token),
# so `$(cluster.sh bin)` and `$(cluster.sh token ...)` capture just the value.
#
# Environment:
#   CAMS_LOCALCLUSTER_CACHE    binary cache root (default $HOME/.cache/cams-operator/localcluster)
#   CAMS_LOCALCLUSTER_TIMEOUT  seconds to wait for readiness (default 120)
#   GO                         go command to use (default: `go` on PATH, else /usr/local/go/bin/go)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"
: "${K8S_VERSION:?versions.env must set K8S_VERSION}" "${ETCD_VERSION:?versions.env must set ETCD_VERSION}"

CACHE_ROOT="${CAMS_LOCALCLUSTER_CACHE:-${HOME:?HOME must be set}/.cache/cams-operator/localcluster}"
TIMEOUT="${CAMS_LOCALCLUSTER_TIMEOUT:-120}"
STOP_GRACE=20 # seconds between SIGTERM and SIGKILL

log() { printf '%s\n' "$*" >&2; }
die() { printf 'localcluster: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=../go-build.sh
source "$HERE/../go-build.sh"

# ---------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------

k8s_minor="${K8S_VERSION#v1.}"; k8s_minor="${k8s_minor%%.*}"
# Version stamping as upstream's hack/lib/version.sh does it (no build date, so the
# binaries are reproducible). -s -w drops the symbol table/DWARF: smaller, faster link.
LDFLAGS="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS+=" -X ${p}.gitVersion=${K8S_VERSION} -X ${p}.gitMajor=1 -X ${p}.gitMinor=${k8s_minor}"
  LDFLAGS+=" -X ${p}.gitTreeState=clean"
done
BUILD_RECIPE="go build -trimpath -buildvcs=false -ldflags=${LDFLAGS}"

# Binaries: name | Go module dir | package
BINARIES=(
  "kube-apiserver|apiserver|k8s.io/kubernetes/cmd/kube-apiserver"
  "kubectl|apiserver|k8s.io/kubernetes/cmd/kubectl"
  "etcd-runner|etcd|."
)

cache_key() {
  local h
  h="$( {
    printf '%s\n' "$BUILD_RECIPE"
    cat "$HERE/apiserver/go.mod" "$HERE/apiserver/go.sum" "$HERE/apiserver/tools.go" \
        "$HERE/etcd/go.mod" "$HERE/etcd/go.sum" "$HERE/etcd/main.go"
  } | sha256sum)"
  printf '%s-%s-%s' "$K8S_VERSION" "$ETCD_VERSION" "${h:0:12}"
}
BIN_DIR="$CACHE_ROOT/$(cache_key)/bin"

all_built() {
  local entry
  for entry in "${BINARIES[@]}"; do
    [[ -x "$BIN_DIR/${entry%%|*}" ]] || return 1
  done
}

go_directive() { awk '$1=="go"{print $2; exit}' "$HERE/apiserver/go.mod"; }

check_go_version() {
  local need have out
  need="$(go_directive)"
  if ! out="$(cd "$HERE/apiserver" && "$GO" env GOVERSION 2>&1)"; then
    die "'$GO env GOVERSION' failed: $out
  k8s.io/kubernetes ${K8S_VERSION} needs go >= ${need}. Install it, or let the go command
  fetch it from the module proxy (~76 MB): export GOTOOLCHAIN=go${need}+auto"
  fi
  have="${out#go}"; have="${have%% *}"
  if [[ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)" != "$need" ]]; then
    die "go ${have} is too old: k8s.io/kubernetes ${K8S_VERSION} needs go >= ${need}.
  Install a newer Go, or: export GOTOOLCHAIN=go${need}+auto (downloads it via the module proxy)"
  fi
  GO_VERSION="$have"
}

TMP_BIN=""
LOCK_FD_OPEN=""
BUILD_PID=""
GO_TMP=""
build_cleanup() {
  if [[ -n "$BUILD_PID" ]]; then # go build and its compiler processes form their own group
    kill -TERM -- "-$BUILD_PID" 2>/dev/null || kill -TERM "$BUILD_PID" 2>/dev/null || true
    wait "$BUILD_PID" 2>/dev/null || true
  fi
  if [[ -n "$GO_TMP" ]]; then rm -rf "$GO_TMP"; fi
  go_ticker_stop
  if [[ -n "$TMP_BIN" ]]; then rm -f "$TMP_BIN"; fi
  TMP_BIN=""; BUILD_PID=""; GO_TMP=""
}

build_one() { # idx total name moddir pkg
  local idx=$1 total=$2 name=$3 moddir=$4 pkg=$5 start label hint=""
  label="$name"
  case "$name" in
    kube-apiserver) label="kube-apiserver ${K8S_VERSION}"; hint=" (first build takes several minutes)";;
    kubectl) label="kubectl ${K8S_VERSION}";;
    etcd-runner) label="etcd runner (go.etcd.io/etcd/server/v3 ${ETCD_VERSION})";;
  esac
  log "[$idx/$total] building ${label}${hint}…"
  start=$(date +%s)
  go_ticker_start "$name" "$start" "      "
  TMP_BIN="$BIN_DIR/.${name}.tmp.$$"
  # go build runs in the background in its own process group and we `wait` for it, so a
  # signal sent to this script alone is handled at once and stops the compilers too. Its
  # scratch dir (GOTMPDIR) lives next to the output so an interrupted build leaves nothing
  # behind. GOCACHE and GOMODCACHE stay at the go command's defaults.
  GO_TMP="$BIN_DIR/.gotmp.$$"
  mkdir -p "$GO_TMP"
  ( cd "$HERE/$moddir" && GOTMPDIR="$GO_TMP" exec setsid -w "$GO" build -mod=readonly -trimpath -buildvcs=false \
      -ldflags="$LDFLAGS" -o "$TMP_BIN" "$pkg" ) &
  BUILD_PID=$!
  if ! wait "$BUILD_PID"; then
    BUILD_PID=""
    build_cleanup
    die "building ${name} failed (see the go output above)"
  fi
  BUILD_PID=""
  rm -rf "$GO_TMP"; GO_TMP=""
  mv -f "$TMP_BIN" "$BIN_DIR/$name" # atomic: same directory
  TMP_BIN=""
  build_cleanup
  log "      ${name} done in $(( $(date +%s) - start ))s"
}

cmd_build() {
  if all_built; then log "cached: $BIN_DIR"; return 0; fi
  go_find
  check_go_version
  mkdir -p "$BIN_DIR"
  # Serialize concurrent builds of the same key (parallel CI jobs / tests).
  if command -v flock >/dev/null 2>&1; then
    go_build_lock "$BIN_DIR" "$BIN_DIR"
    LOCK_FD_OPEN=1
    if all_built; then exec 9>&-; log "cached: $BIN_DIR"; return 0; fi
  fi
  trap 'build_cleanup' EXIT
  trap 'build_cleanup; log "interrupted"; exit 130' INT TERM
  log "building the local control plane into $BIN_DIR"
  log "  go ${GO_VERSION}, k8s.io/kubernetes ${K8S_VERSION}, etcd ${ETCD_VERSION}; Go caches: $("$GO" env GOCACHE), $("$GO" env GOMODCACHE)"
  local total_start entry name rest moddir pkg todo=() i=0
  total_start=$(date +%s)
  for entry in "${BINARIES[@]}"; do
    [[ -x "$BIN_DIR/${entry%%|*}" ]] || todo+=("$entry")
  done
  for entry in "${todo[@]}"; do
    i=$((i + 1))
    name="${entry%%|*}"; rest="${entry#*|}"; moddir="${rest%%|*}"; pkg="${rest#*|}"
    build_one "$i" "${#todo[@]}" "$name" "$moddir" "$pkg"
  done
  trap - EXIT INT TERM
  if [[ -n "$LOCK_FD_OPEN" ]]; then exec 9>&-; fi
  log "built in $(( $(date +%s) - total_start ))s: $BIN_DIR"
}

ensure_built() { all_built || cmd_build; }

# ---------------------------------------------------------------------------------------
# Cluster state helpers
# ---------------------------------------------------------------------------------------

abs_dir() { # create (if asked) and absolutize DIR; reject characters that would need quoting
  local d=$1 create=${2:-}
  [[ -n "$d" ]] || die "missing DIR argument"
  [[ "$d" =~ ^[A-Za-z0-9_./@%+,:=~-]+$ ]] || die "DIR '$d' contains characters that would need shell quoting; use a simpler path"
  if [[ -n "$create" ]]; then mkdir -p "$d"; fi
  [[ -d "$d" ]] || die "no such directory: $d (run: $0 up $d)"
  (cd "$d" && pwd)
}

load_env() { # DIR -> sets the env-file variables in this shell
  local f="$1/env"
  [[ -f "$f" ]] || die "$1 is not a localcluster directory (no env file); run: $0 up $1"
  # shellcheck disable=SC1090
  source "$f"
}

pid_alive() { # pidfile dir -> 0 if the recorded process runs and belongs to DIR
  local pf=$1 dir=$2 pid
  [[ -f "$pf" ]] || return 1
  pid="$(cat "$pf" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against PID reuse: the process's command line must mention DIR.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir/" || return 1
}

stop_proc() { # name dir
  local name=$1 dir=$2 pf pid i
  pf="$dir/$name.pid"
  if ! pid_alive "$pf" "$dir"; then
    rm -f "$pf"; log "$name: not running"; return 0
  fi
  pid="$(cat "$pf")"
  log "$name: stopping (pid $pid)…"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_GRACE * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name: still running after ${STOP_GRACE}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$pf"
  log "$name: stopped"
}

start_proc() { # name dir binary args... ; logs to DIR/name.log, pid in DIR/name.pid
  local name=$1 dir=$2 bin=$3; shift 3
  local logf="$dir/$name.log" pf="$dir/$name.pid"
  [[ -f "$logf" ]] && mv -f "$logf" "$logf.prev"
  rm -f "$pf"
  # setsid: own session, so a Ctrl-C or process-group kill aimed at the caller does not
  # take the cluster down with it. The inner shell writes its own pid, then execs.
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pf" "$bin" "$@" </dev/null >"$logf" 2>&1 &
  local i
  for ((i = 0; i < 50; i++)); do [[ -s "$pf" ]] && break; sleep 0.1; done
  [[ -s "$pf" ]] || die "$name did not start (see $logf)"
}

fail_with_log() { # name dir message
  local name=$1 dir=$2 msg=$3
  log "---- last lines of $dir/$name.log ----"
  tail -n 25 "$dir/$name.log" >&2 2>/dev/null || true
  log "--------------------------------------"
  die "$msg (full log: $dir/$name.log)"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_port() { # prints a free loopback port below the ephemeral range, not in "$@"
  local p tries
  for ((tries = 0; tries < 200; tries++)); do
    p=$((20000 + RANDOM % 12000))
    [[ " $* " == *" $p "* ]] && continue
    port_in_use "$p" && continue
    echo "$p"; return 0
  done
  die "could not find a free port on 127.0.0.1"
}

write_kubeconfig() { # file server ca_file user token
  local file=$1 server=$2 ca=$3 user=$4 token=$5 tmp
  tmp="$file.tmp.$$"
  ( umask 077
    cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: localcluster
  cluster:
    server: ${server}
    certificate-authority-data: $(base64 -w0 <"$ca")
users:
- name: ${user}
  user:
    token: ${token}
contexts:
- name: localcluster
  context:
    cluster: localcluster
    user: ${user}
current-context: localcluster
EOF
  )
  mv -f "$tmp" "$file"
}

wait_etcd_ready() { # dir
  local dir=$1 deadline=$((SECONDS + TIMEOUT))
  while ! grep -q '^etcd ready' "$dir/etcd.log" 2>/dev/null; do
    pid_alive "$dir/etcd.pid" "$dir" || fail_with_log etcd "$dir" "etcd exited during startup"
    ((SECONDS < deadline)) || fail_with_log etcd "$dir" "etcd not ready after ${TIMEOUT}s"
    sleep 0.2
  done
}

wait_apiserver_ready() { # dir (env loaded)
  local dir=$1 deadline=$((SECONDS + TIMEOUT)) start=$SECONDS next_note=$((SECONDS + 10)) out=""
  local ca="$dir/certs/apiserver.crt"
  while [[ ! -s "$ca" ]]; do
    pid_alive "$dir/apiserver.pid" "$dir" || fail_with_log apiserver "$dir" "kube-apiserver exited during startup"
    ((SECONDS < deadline)) || fail_with_log apiserver "$dir" "kube-apiserver wrote no serving certificate after ${TIMEOUT}s"
    sleep 0.2
  done
  write_kubeconfig "$dir/kubeconfig" "https://127.0.0.1:${APISERVER_PORT}" "$ca" admin "$(cat "$dir/admin-token")"
  log "kube-apiserver: waiting for /readyz…"
  until out="$("$KUBECTL" --kubeconfig "$dir/kubeconfig" --request-timeout=5s get --raw /readyz 2>&1)" && [[ "$out" == ok ]]; do
    pid_alive "$dir/apiserver.pid" "$dir" || fail_with_log apiserver "$dir" "kube-apiserver exited during startup"
    ((SECONDS < deadline)) || fail_with_log apiserver "$dir" "kube-apiserver not ready after ${TIMEOUT}s; last /readyz answer: ${out:0:300}"
    if ((SECONDS >= next_note)); then log "      still waiting for /readyz… $((SECONDS - start))s"; next_note=$((SECONDS + 10)); fi
    sleep 0.5
  done
  log "kube-apiserver: /readyz ok after $((SECONDS - start))s; waiting for namespace default…"
  until "$KUBECTL" --kubeconfig "$dir/kubeconfig" --request-timeout=5s get namespace default >/dev/null 2>&1; do
    pid_alive "$dir/apiserver.pid" "$dir" || fail_with_log apiserver "$dir" "kube-apiserver exited during startup"
    ((SECONDS < deadline)) || fail_with_log apiserver "$dir" "namespace default did not appear within ${TIMEOUT}s"
    sleep 0.5
  done
  log "kube-apiserver: ready on https://127.0.0.1:${APISERVER_PORT} ($((SECONDS - start))s)"
}

start_apiserver() { # dir (env loaded)
  local dir=$1 args=()
  mapfile -t args <"$dir/apiserver.args"
  log "kube-apiserver: starting on 127.0.0.1:${APISERVER_PORT} (log: $dir/apiserver.log)"
  start_proc apiserver "$dir" "$KUBE_APISERVER" "${args[@]}"
}

# ---------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------

cmd_up() {
  [[ $# -eq 1 ]] || die "usage: $0 up DIR"
  ensure_built
  local dir; dir="$(abs_dir "$1" create)"
  chmod 700 "$dir"
  mkdir -p "$dir/certs" "$dir/etcd"
  chmod 700 "$dir/etcd" # etcd warns about anything wider

  if [[ -f "$dir/env" ]]; then
    load_env "$dir" # reuse ports and keys of an earlier `up` of this DIR
    if pid_alive "$dir/apiserver.pid" "$dir" && pid_alive "$dir/etcd.pid" "$dir"; then
      log "already running in $dir; checking readiness"
      wait_apiserver_ready "$dir"; return 0
    fi
    log "reusing state in $dir (ports ${ETCD_PORT}/${ETCD_PEER_PORT}/${APISERVER_PORT})"
  else
    ETCD_PORT="$(pick_port)"
    ETCD_PEER_PORT="$(pick_port "$ETCD_PORT")"
    APISERVER_PORT="$(pick_port "$ETCD_PORT" "$ETCD_PEER_PORT")"
  fi
  # Binaries of the current build (an older DIR may point at an older cache entry).
  KUBE_APISERVER="$BIN_DIR/kube-apiserver"; KUBECTL="$BIN_DIR/kubectl"; ETCD_RUNNER="$BIN_DIR/etcd-runner"

  command -v openssl >/dev/null 2>&1 || die "openssl is required to generate the service-account key"
  if [[ ! -s "$dir/sa.key" ]]; then
    log "generating service-account RSA key pair"
    (umask 077; openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null)
    openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
  fi
  if [[ ! -s "$dir/admin-token" ]]; then
    (umask 077
     openssl rand -hex 32 >"$dir/admin-token"
     printf '%s,admin,admin,"system:masters"\n' "$(cat "$dir/admin-token")" >"$dir/tokens.csv")
  fi

  cat >"$dir/env" <<EOF
LOCALCLUSTER_DIR=${dir}
KUBECONFIG=${dir}/kubeconfig
APISERVER_URL=https://127.0.0.1:${APISERVER_PORT}
APISERVER_PORT=${APISERVER_PORT}
ETCD_PORT=${ETCD_PORT}
ETCD_PEER_PORT=${ETCD_PEER_PORT}
KUBECTL=${KUBECTL}
KUBE_APISERVER=${KUBE_APISERVER}
ETCD_RUNNER=${ETCD_RUNNER}
K8S_VERSION=${K8S_VERSION}
ETCD_VERSION=${ETCD_VERSION}
EOF

  for p in "$ETCD_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT"; do
    port_in_use "$p" && die "port 127.0.0.1:$p is already in use (stale processes? try: $0 down $dir)"
  done

  # Stop whatever we started if startup fails, so CI is not left with orphans.
  trap 'rc=$?; if ((rc != 0)); then log "startup failed; stopping"; stop_proc apiserver "'"$dir"'"; stop_proc etcd "'"$dir"'"; fi' EXIT

  if ! pid_alive "$dir/etcd.pid" "$dir"; then
    log "etcd ${ETCD_VERSION}: starting on 127.0.0.1:${ETCD_PORT} (log: $dir/etcd.log)"
    start_proc etcd "$dir" "$ETCD_RUNNER" --data-dir="$dir/etcd" --client-port="$ETCD_PORT" \
      --peer-port="$ETCD_PEER_PORT" --unsafe-no-fsync
    wait_etcd_ready "$dir"
    log "etcd: ready"
  fi

  # One flag per line; restart-apiserver replays exactly this file.
  cat >"$dir/apiserver.args" <<EOF
--etcd-servers=http://127.0.0.1:${ETCD_PORT}
--bind-address=127.0.0.1
--advertise-address=127.0.0.1
--secure-port=${APISERVER_PORT}
--cert-dir=${dir}/certs
--service-cluster-ip-range=10.0.0.0/24
--service-account-issuer=https://kubernetes.default.svc
--api-audiences=https://kubernetes.default.svc
--service-account-key-file=${dir}/sa.pub
--service-account-signing-key-file=${dir}/sa.key
--authorization-mode=RBAC
--token-auth-file=${dir}/tokens.csv
--endpoint-reconciler-type=none
--profiling=false
EOF
  start_apiserver "$dir"
  wait_apiserver_ready "$dir"
  trap - EXIT
  log "up: $dir  (use: set -a; . $dir/env; set +a   or   kubectl --kubeconfig $dir/kubeconfig …)"
}

cmd_down() {
  [[ $# -eq 1 ]] || die "usage: $0 down DIR"
  if [[ ! -d "$1" ]]; then log "$1: no such directory; nothing to stop"; return 0; fi
  local dir; dir="$(abs_dir "$1")"
  stop_proc apiserver "$dir"
  stop_proc etcd "$dir"
}

cmd_restart_apiserver() {
  [[ $# -eq 1 ]] || die "usage: $0 restart-apiserver DIR"
  local dir; dir="$(abs_dir "$1")"
  load_env "$dir"
  [[ -f "$dir/apiserver.args" ]] || die "$dir has no apiserver.args; run: $0 up $dir"
  pid_alive "$dir/etcd.pid" "$dir" || die "etcd is not running in $dir; run: $0 up $dir"
  [[ -x "$KUBE_APISERVER" ]] || die "binary $KUBE_APISERVER is gone; run: $0 up $dir"
  stop_proc apiserver "$dir"
  local i
  for ((i = 0; i < 100; i++)); do port_in_use "$APISERVER_PORT" || break; sleep 0.1; done
  start_apiserver "$dir"
  wait_apiserver_ready "$dir"
}

already_exists() { [[ "$1" == *AlreadyExists* || "$1" == *"already exists"* ]]; }

cmd_token() {
  [[ $# -eq 3 || $# -eq 4 ]] || die "usage: $0 token DIR NAMESPACE SERVICEACCOUNT [DURATION]"
  local dir ns=$2 sa=$3 duration=${4:-} err
  dir="$(abs_dir "$1")"
  load_env "$dir"
  local k=("$KUBECTL" --kubeconfig "$dir/kubeconfig" --request-timeout=30s)
  if ! err="$("${k[@]}" create namespace "$ns" 2>&1 >/dev/null)" && ! already_exists "$err"; then
    die "creating namespace $ns: $err"
  fi
  if ! err="$("${k[@]}" -n "$ns" create serviceaccount "$sa" 2>&1 >/dev/null)" && ! already_exists "$err"; then
    die "creating serviceaccount $ns/$sa: $err"
  fi
  local extra=()
  [[ -n "$duration" ]] && extra=(--duration="$duration")
  "${k[@]}" -n "$ns" create token "$sa" "${extra[@]}"
}

cmd_kubeconfig_for_token() {
  [[ $# -eq 3 ]] || die "usage: $0 kubeconfig-for-token DIR TOKEN OUTFILE"
  local dir token=$2 out=$3
  dir="$(abs_dir "$1")"
  load_env "$dir"
  [[ -s "$dir/certs/apiserver.crt" ]] || die "$dir/certs/apiserver.crt missing; run: $0 up $dir"
  [[ "$token" =~ ^[A-Za-z0-9._-]+$ ]] || die "TOKEN does not look like a bearer token"
  mkdir -p "$(dirname "$out")"
  write_kubeconfig "$out" "$APISERVER_URL" "$dir/certs/apiserver.crt" token-user "$token"
  log "wrote $out"
}

cmd_status() {
  [[ $# -eq 1 ]] || die "usage: $0 status DIR"
  local dir name rc=0; dir="$(abs_dir "$1")"
  for name in etcd apiserver; do
    if pid_alive "$dir/$name.pid" "$dir"; then echo "$name: running (pid $(cat "$dir/$name.pid"))"
    else echo "$name: stopped"; rc=1; fi
  done
  return "$rc"
}

usage() {
  sed -n '6,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  build) [[ $# -eq 0 ]] || usage; cmd_build ;;
  bin) [[ $# -eq 0 ]] || usage; ensure_built; echo "$BIN_DIR" ;;
  up) cmd_up "$@" ;;
  down) cmd_down "$@" ;;
  restart-apiserver) cmd_restart_apiserver "$@" ;;
  token) cmd_token "$@" ;;
  kubeconfig-for-token) cmd_kubeconfig_for_token "$@" ;;
  status) cmd_status "$@" ;;
  -h|--help|help|"") usage ;;
  *) log "unknown command: $cmd"; usage ;;
esac
