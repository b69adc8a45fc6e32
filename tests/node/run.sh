#!/usr/bin/env bash
# The node tier (`make node-test`): the operator as Pods on a real node. In network and mount
# namespaces of its own (nothing it starts is reachable from outside them), it runs
#   etcd + kube-apiserver (hack/localcluster), kube-controller-manager, kube-scheduler and a
#   kubelet (hack/node/build.sh, the same pinned k8s.io/kubernetes), Debian's containerd + runc
#   + CNI plugins, a pause image built here (hack/node/pause.sh), the operator image from
#   `make image` imported into containerd, and the CAMS simulator on the pods' network;
# then checks what a user of the chart relies on:
#   1. `helm install --wait` with the chart's defaults + the local image (pullPolicy Never) and
#      the operator's own credentials (credentials.mode=secret, lent to one namespace): both
#      replicas Running and Ready as uid 65532 with no capabilities, exactly one leader;
#   2. ChatGroups converge against the simulator (lent credentials and a namespace's own Secret);
#   3. deleting the leader's Pod: the other replica takes the Lease within the lease bound, the
#      Deployment replaces the Pod, and a spec change still converges;
#   4. deleting a namespace deletes its ChatGroups (the namespace controller runs here);
#   5. `helm uninstall` removes the operator's Pods but leaves the CRD and the ChatGroups;
#   6. the rendered install.yaml (`make install-yaml`, for users without Helm) applies and its
#      operator runs and converges a ChatGroup.
#
#   tests/node/run.sh IMAGE_REF IMAGE_ARCHIVE INSTALL_YAML
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/hack/lib.sh"
TIER="node"
source "$ROOT/hack/testlib.sh"
WORK="${CAMS_NODE_WORKDIR:-$ROOT/.node-test}"
# Sockets live under /run: a unix socket path must stay under 108 bytes wherever CI clones.
RUN="${RUN:-/run/cams-node-test.$$}"

if [[ "${1:-}" != --inside ]]; then
  [[ $# -eq 3 ]] || { sed -n '22p' "$0" | sed 's/^# *//' >&2; exit 2; }
  IMAGE=$1 ARCHIVE=$(realpath "$2") INSTALL_YAML=$(realpath "$3")
  [[ $(id -u) -eq 0 ]] || { echo "the node tier runs containers: run it as root" >&2; exit 1; }
  start=$SECONDS
  rm -rf "$WORK"; mkdir -p "$WORK"
  step "Debian packages (containerd, runc, CNI plugins, socat) and the binaries (cached after the first run)"
  bash "$ROOT/hack/install-deps.sh" node
  bash "$CLUSTER" build
  NODE_BIN="$(bash "$ROOT/hack/node/build.sh" bin)"
  HELM="$(bash "$ROOT/hack/helm.sh" bin)"
  PAUSE_ARCHIVE="$(bash "$ROOT/hack/node/pause.sh" "$WORK/pause")"
  export NODE_BIN HELM PAUSE_ARCHIVE IMAGE ARCHIVE INSTALL_YAML WORK RUN
  step "entering a network and mount namespace of the tier's own"
  rc=0
  unshare --net --mount --propagation slave -- bash "$0" --inside || rc=$?
  # Whatever the inner run could not stop (it was killed): every process it recorded.
  if [[ -f "$WORK/pids" ]]; then
    while read -r pid _; do kill -KILL "$pid" 2>/dev/null || true; done <"$WORK/pids"
  fi
  # The pods' mounts (shm, netns, volumes) lived in the inner mount namespace and went with it.
  rm -rf "$RUN"
  # containerd's parent cgroup for the pods, once empty (rmdir refuses a cgroup still in use).
  rmdir /sys/fs/cgroup/*/k8s.io 2>/dev/null || true
  if [[ $rc -eq 0 ]]; then
    rm -rf "$WORK"
    say "node tier passed in $((SECONDS - start))s"
  else
    say "node tier failed (exit $rc); logs kept in $WORK (kubelet.log, containerd.log, kube-*.log, pods/)"
  fi
  exit "$rc"
fi

# ---- inside the namespaces ----------------------------------------------------------------
source "$ROOT/tests/node/node.sh"
SIM_PID=""
collect_logs() {
  mkdir -p "$WORK/pods"
  { "$KUBECTL" get nodes,pods,deploy,rs,leases -A -o wide; "$KUBECTL" get events -A --sort-by=.lastTimestamp | tail -n 60; } \
    >"$WORK/pods/summary.txt" 2>&1 || true
  cp -r "$WORK/kubelet/pod-logs/." "$WORK/pods/" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT
  if [[ $rc -ne 0 ]]; then collect_logs; fi
  node_stop
  stop_pid "$SIM_PID"
  bash "$CLUSTER" down "$WORK/cluster" >/dev/null 2>&1 || true
  # The pods' mounts live in this mount namespace and vanish with it; unmounting them here
  # too lets a debugger inspect $WORK while the namespace is still held.
  awk -v run="$RUN/" -v work="$WORK/" 'index($5, run) == 1 || index($5, work) == 1 {print $5}' /proc/self/mountinfo |
    sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
: >"$WORK/pids"

step "network: lo, the Service IP $SERVICE_IP, the bridge cni0 ($POD_GATEWAY/24)"
node_network

step "etcd + kube-apiserver; the Service IP forwarded to it; the CAMS simulator on the pods' network"
bash "$CLUSTER" up "$WORK/cluster"
set -a; source "$WORK/cluster/env"; set +a
echo "$(cat "$WORK/cluster/apiserver.pid") kube-apiserver" >>"$WORK/pids"
echo "$(cat "$WORK/cluster/etcd.pid") etcd" >>"$WORK/pids"
start service-ip-forward socat "TCP-LISTEN:443,bind=$SERVICE_IP,fork,reuseaddr" "TCP:127.0.0.1:$APISERVER_PORT"
cat >"$WORK/seed.json" <<JSON
{"accessKeys":[{"accessKeyId":"node-operator-key","accessKeySecret":"node-operator-secret"},
               {"accessKeyId":"node-team-b-key","accessKeySecret":"node-team-b-secret"}],
 "groups":[{"custSpaceId":"cams-node","businessNumber":"8613800001234","groupId":"EA303NODEA1","subject":"before"},
           {"custSpaceId":"cams-node","businessNumber":"8613800001234","groupId":"EA303NODEA2","subject":"before"},
           {"custSpaceId":"cams-node","businessNumber":"8613800001234","groupId":"EA303NODEB1","subject":"before"},
           {"custSpaceId":"cams-node","businessNumber":"8613800001234","groupId":"EA303NODEGONE","subject":"before"}]}
JSON
# The simulator binds loopback only (its own rule); socat gives the pods a way to it on the
# bridge's gateway address, as the Service IP forward does for the API server.
start_simulator "$WORK" --seed "$WORK/seed.json"
echo "$SIM_PID simulator" >>"$WORK/pids"
SIM_POD_PORT=18080
start simulator-forward socat "TCP-LISTEN:$SIM_POD_PORT,bind=$POD_GATEWAY,fork,reuseaddr" "TCP:${SIM_URL#http://}"
SIM_POD_URL="http://$POD_GATEWAY:$SIM_POD_PORT"
sim_reachable() { curl -fsS --max-time 2 "$SIM_POD_URL/admin/healthz"; }
eventually 20 "the simulator answers on the pods' gateway ($SIM_POD_URL)" sim_reachable
install_crd

step "containerd (Debian's, runc, CNI bridge), the pause and operator images imported"
node_containerd
ctr_k8s images import "$PAUSE_ARCHIVE" >/dev/null
ctr_k8s images import "$ARCHIVE" >/dev/null
images="$(ctr_k8s images ls -q)"
check "containerd has $IMAGE" grep -qxF "$IMAGE" <<<"$images"
check "containerd has the pause image" grep -qxF localhost/cams-pause:local <<<"$images"

step "kube-controller-manager, kube-scheduler, kubelet"
node_control
node_kubelet
node_ready() { "$KUBECTL" wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s; }
eventually 120 "node $NODE_NAME is Ready" node_ready
untainted() { [[ -z "$("$KUBECTL" get node "$NODE_NAME" -o jsonpath='{.spec.taints}')" ]]; }
eventually 60 "node $NODE_NAME has no taints" untainted
default_sa() { "$KUBECTL" -n default get serviceaccount default; }
eventually 60 "the ServiceAccount controller made default/default" default_sa
check "the kubernetes Service is $SERVICE_IP:443" bash -c \
  "[[ \$('$KUBECTL' get svc kubernetes -o jsonpath='{.spec.clusterIP}:{.spec.ports[0].port}') == $SERVICE_IP:443 ]]"

# ---- 1. helm install ----------------------------------------------------------------------
REL_NS=cams-system
step "1. helm install (defaults + the local image, pullPolicy Never, the operator's own credentials lent to team-a)"
"$KUBECTL" create namespace "$REL_NS" >/dev/null
"$KUBECTL" -n "$REL_NS" create secret generic cams-credentials \
  --from-literal=accessKeyId=node-operator-key --from-literal=accessKeySecret=node-operator-secret >/dev/null
export HELM_CONFIG_HOME="$WORK/helm/config" HELM_CACHE_HOME="$WORK/helm/cache" HELM_DATA_HOME="$WORK/helm/data"
repo="${IMAGE%:*}" tag="${IMAGE##*:}"
helm_cmd=("$HELM" install cams-operator "$ROOT/charts/cams-operator" --namespace "$REL_NS"
  --set "image.repository=$repo" --set "image.tag=$tag" --set image.pullPolicy=Never
  --set "cams.endpoint=$SIM_POD_URL"
  --set credentials.mode=secret --set credentials.secret.name=cams-credentials --set "lendCredentialsTo={team-a}"
  --wait --timeout 180s)
printf '  $ %s\n' "${helm_cmd[*]}" >&2
t0=$SECONDS
"${helm_cmd[@]}" >"$WORK/helm-install.log" 2>&1 || { cat "$WORK/helm-install.log" >&2; fail "helm install --wait"; }
pass "helm install --wait: the Deployment is available ($((SECONDS - t0))s)"

pods_json() { "$KUBECTL" -n "$REL_NS" get pods -l app.kubernetes.io/name=cams-operator -o json; }
ready_pods() {
  pods_json | python3 -c '
import json, sys
for p in json.load(sys.stdin)["items"]:
    if p["metadata"].get("deletionTimestamp"): continue
    conds = {c["type"]: c["status"] for c in p["status"].get("conditions", [])}
    if p["status"].get("phase") == "Running" and conds.get("Ready") == "True":
        print(p["metadata"]["name"], p["status"]["podIP"])'
}
two_ready() { [[ $(ready_pods | wc -l) -eq 2 ]]; }
eventually 120 "both replicas Running and Ready" two_ready
mapfile -t PODS < <(ready_pods)
lease() { "$KUBECTL" -n "$REL_NS" get lease cams-operator -o jsonpath='{.spec.holderIdentity}'; }
holder_is_a_pod() { local h; h="$(lease)"; [[ -n "$h" ]] && ready_pods | awk '{print $1}' | grep -qxF "$h"; }
eventually 60 "the Lease cams-operator is held by one of the pods" holder_is_a_pod
LEADER="$(lease)"
leaders=0
for entry in "${PODS[@]}"; do
  name=${entry% *} ip=${entry#* }
  m="$(curl -fsS --max-time 5 "http://$ip:8080/metrics")" || fail "scrape /metrics of $name at $ip:8080 from the node"
  g="$(awk '$1=="cams_operator_leader"{print $2}' <<<"$m")"
  [[ "$g" == 1 ]] && leaders=$((leaders + 1)) && [[ "$name" != "$LEADER" ]] && fail "$name says it leads, the Lease says $LEADER"
done
check_eq "exactly one replica reports cams_operator_leader 1 (over the pod network)" 1 "$leaders"
operators=0
for pid in $(ctr_k8s tasks ls 2>/dev/null | awk 'NR>1{print $2}'); do
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
  [[ "$exe" == */cams-operator ]] || continue
  operators=$((operators + 1))
  st="$(cat "/proc/$pid/status")"
  check_eq "operator process $pid: uid, CapEff" "65532 0000000000000000" \
    "$(awk '/^Uid:/{print $3}' <<<"$st") $(awk '/^CapEff:/{print $2}' <<<"$st")"
  ro="$(awk '$5=="/"{print $6}' "/proc/$pid/mountinfo" | tail -n 1)"
  check "operator process $pid: read-only root ($ro)" grep -qE '(^|,)ro(,|$)' <<<"$ro"
done
check_eq "operator processes found among containerd's tasks" 2 "$operators"

# ---- 2. ChatGroups converge ---------------------------------------------------------------
step "2. ChatGroups converge against the simulator on the pods' network"
chatgroup() { # NS NAME GROUP SUBJECT [SECRET]
  local ref=""; [[ -n "${5:-}" ]] && ref="  credentialsSecretRef: {name: $5}"
  "$KUBECTL" apply -f - >/dev/null <<YAML
apiVersion: cams.dev/v1alpha1
kind: ChatGroup
metadata: {name: $2, namespace: $1}
spec:
  businessNumber: "8613800001234"
  custSpaceId: cams-node
  groupId: $3
  subject: $4
$ref
YAML
}
for ns in team-a team-b team-gone; do "$KUBECTL" create namespace "$ns" >/dev/null; done
"$KUBECTL" -n team-b create secret generic own-credentials \
  --from-literal=accessKeyId=node-team-b-key --from-literal=accessKeySecret=node-team-b-secret >/dev/null
chatgroup team-a alpha EA303NODEA1 "alpha v1"
chatgroup team-a beta EA303NODEA2 "beta v1"
chatgroup team-b gamma EA303NODEB1 "gamma v1" own-credentials
chatgroup team-gone doomed EA303NODEGONE "doomed v1"   # no lending to team-gone: stalls
sim_subject() { curl -fsS "$SIM_URL/admin/groups/cams-node/8613800001234/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["subject"])'; }
is_ready() { [[ "$("$KUBECTL" -n "$1" get chatgroup "$2" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]]; }
converged() { is_ready "$1" "$2" && [[ "$(sim_subject "$3")" == "$4" ]]; }
eventually 120 "team-a/alpha Ready with the operator's lent credentials" converged team-a alpha EA303NODEA1 "alpha v1"
eventually 60 "team-a/beta Ready with the operator's lent credentials" converged team-a beta EA303NODEA2 "beta v1"
eventually 60 "team-b/gamma Ready with its own Secret" converged team-b gamma EA303NODEB1 "gamma v1"
reason() { "$KUBECTL" -n "$1" get chatgroup "$2" -o jsonpath='{.status.conditions[?(@.type=="Synced")].reason}'; }
is_reason() { [[ "$(reason "$1" "$2")" == "$3" ]]; }
eventually 60 "team-gone/doomed (not lent to) is CredentialsInvalid" is_reason team-gone doomed CredentialsInvalid
check_eq "team-gone's group was never written" before "$(sim_subject EA303NODEGONE)"

# ---- 3. leader failover ---------------------------------------------------------------------
step "3. delete the leader's Pod ($LEADER)"
lease_s="$("$KUBECTL" -n "$REL_NS" get lease cams-operator -o jsonpath='{.spec.leaseDurationSeconds}')"
t0=$SECONDS
"$KUBECTL" -n "$REL_NS" delete pod "$LEADER" --wait=false >/dev/null
new_leader() { local h; h="$(lease)"; [[ -n "$h" && "$h" != "$LEADER" ]] && ready_pods | awk '{print $1}' | grep -qxF "$h"; }
eventually $((lease_s + 10)) "another replica holds the Lease" new_leader
took=$((SECONDS - t0))
check "the takeover took ${took}s, within the lease duration (${lease_s}s) + one retry period (2s)" test "$took" -le $((lease_s + 2))
NEW_LEADER="$(lease)"
replaced() { [[ $(ready_pods | awk '{print $1}' | grep -vxF "$LEADER" | wc -l) -eq 2 ]]; }
eventually 120 "the Deployment replaced the Pod: two Ready replicas, neither of them $LEADER" replaced
gone() { ! "$KUBECTL" -n "$REL_NS" get pod "$LEADER" >/dev/null 2>&1; }
eventually 60 "$LEADER is gone" gone
chatgroup team-a alpha EA303NODEA1 "alpha v2"
eventually 90 "a spec change converges under the new leader ($NEW_LEADER)" converged team-a alpha EA303NODEA1 "alpha v2"

# ---- 4. namespace deletion cascades ---------------------------------------------------------
step "4. delete namespace team-gone"
"$KUBECTL" delete namespace team-gone --wait=false >/dev/null
ns_gone() { ! "$KUBECTL" get namespace team-gone >/dev/null 2>&1; }
eventually 120 "namespace team-gone is deleted, its ChatGroup with it" ns_gone
check_eq "no ChatGroup left in team-gone" "" "$("$KUBECTL" get chatgroups -A -o jsonpath='{range .items[?(@.metadata.namespace=="team-gone")]}{.metadata.name}{end}')"

# ---- 5. helm uninstall ----------------------------------------------------------------------
step "5. helm uninstall"
"$HELM" uninstall cams-operator --namespace "$REL_NS" --wait --timeout 120s >"$WORK/helm-uninstall.log" 2>&1 ||
  { cat "$WORK/helm-uninstall.log" >&2; fail "helm uninstall"; }
no_pods() { [[ -z "$("$KUBECTL" -n "$REL_NS" get pods -l app.kubernetes.io/name=cams-operator -o name)" ]]; }
eventually 120 "the operator's Pods are gone (garbage collection)" no_pods
check "the CRD stays" "$KUBECTL" get crd chatgroups.cams.dev
check_eq "the ChatGroups stay" "team-a/alpha team-a/beta team-b/gamma" \
  "$("$KUBECTL" get chatgroups -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name} {end}' | xargs)"
check "and keep their status (team-b/gamma Ready)" is_ready team-b gamma

# ---- 6. install.yaml ------------------------------------------------------------------------
step "6. kubectl apply --server-side -f install.yaml, then point it at the simulator"
"$KUBECTL" apply --server-side -f "$INSTALL_YAML" >"$WORK/install-apply.log" 2>&1 ||
  { cat "$WORK/install-apply.log" >&2; fail "kubectl apply install.yaml"; }
pass "install.yaml applies ($(wc -l <"$WORK/install-apply.log") objects)"
"$KUBECTL" -n cams-system set env deployment/cams-operator "CAMS_OPERATOR_ENDPOINT=$SIM_POD_URL" >/dev/null
"$KUBECTL" -n cams-system rollout status deployment/cams-operator --timeout=180s >/dev/null ||
  fail "the install.yaml Deployment rolls out"
pass "the install.yaml Deployment rolled out"
eventually 120 "both install.yaml replicas Running and Ready" two_ready
chatgroup team-b gamma EA303NODEB1 "gamma v2" own-credentials
eventually 120 "team-b/gamma converges under the install.yaml operator" converged team-b gamma EA303NODEB1 "gamma v2"
summary
