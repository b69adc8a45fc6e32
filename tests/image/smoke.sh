#!/usr/bin/env bash
# Image smoke test (`make image-test`, part of `make test`): the operator image that `make
# image` built, run under podman the way a kubelet runs the chart's pod — non-root (65532),
# read-only root filesystem with an empty /tmp, every capability dropped, no new privileges —
# with in-cluster configuration shaped like a pod's: KUBERNETES_SERVICE_HOST/PORT and a
# ServiceAccount token, CA and namespace mounted at /var/run/secrets/kubernetes.io/serviceaccount,
# the token being one of the chart's ServiceAccount (the chart's own RBAC, namespaced mode).
# It must become ready on /readyz, reconcile a ChatGroup against the CAMS simulator, write
# nothing to its root filesystem, and exit 0 on SIGTERM.
#
#   tests/image/smoke.sh IMAGE_REF
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/hack/lib.sh"
TIER="image smoke"
source "$ROOT/hack/testlib.sh"
source "$ROOT/hack/image/podman.sh"
IMAGE="${1:?usage: tests/image/smoke.sh IMAGE_REF}"

WORK="$ROOT/.image-test"
NS=smoke
NAME="cams-smoke-$$"
SIM_PID=""
cleanup() {
  local rc=$?
  podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
  stop_pid "$SIM_PID"
  bash "$CLUSTER" down "$WORK/cluster" >/dev/null 2>&1 || true
  if [[ $rc -ne 0 ]]; then say "image smoke test failed (exit $rc); logs kept in $WORK"; else rm -rf "$WORK"; fi
  exit $rc
}
trap cleanup EXIT
rm -rf "$WORK"; mkdir -p "$WORK"
start=$SECONDS

step "the image's configuration"
inspect() { podman image inspect --format "$1" "$IMAGE"; }
version="$(awk -F'"' '/^version *=/{print $2; exit}' "$ROOT/Cargo.toml")"
check_eq "user" "65532:65532" "$(inspect '{{.Config.User}}')"
check_eq "entrypoint" "[/usr/local/bin/cams-operator run]" "$(inspect '{{.Config.Entrypoint}}')"
check_eq "label org.opencontainers.image.version" "$version" "$(inspect '{{index .Labels "org.opencontainers.image.version"}}')"
check_eq "label org.opencontainers.image.revision" "$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)" \
  "$(inspect '{{index .Labels "org.opencontainers.image.revision"}}')"
check "label org.opencontainers.image.source ($(inspect '{{index .Labels "org.opencontainers.image.source"}}'))" \
  test -n "$(inspect '{{index .Labels "org.opencontainers.image.source"}}')"
check_eq "one layer" "1" "$(inspect '{{len .RootFS.Layers}}')"

step "local control plane, CRD, CAMS simulator"
bash "$CLUSTER" build
HELM="$(bash "$ROOT/hack/helm.sh" bin)"
bash "$CLUSTER" up "$WORK/cluster"
set -a; source "$WORK/cluster/env"; set +a
install_crd
cat >"$WORK/seed.json" <<JSON
{"accessKeys":[{"accessKeyId":"smoke-key-id","accessKeySecret":"smoke-key-secret"}],
 "groups":[{"custSpaceId":"cams-smoke","businessNumber":"8613800001234","groupId":"EA303SMOKE","subject":"before"}]}
JSON
start_simulator "$WORK" --seed "$WORK/seed.json"

step "the chart's ServiceAccount and RBAC (watchNamespaces: [$NS]); a token of that ServiceAccount"
"$KUBECTL" create namespace "$NS" >/dev/null
"$HELM" template smoke "$ROOT/charts/cams-operator" --namespace "$NS" --set "watchNamespaces={$NS}" \
  --show-only templates/serviceaccount.yaml --show-only templates/rbac.yaml >"$WORK/rbac.yaml"
"$KUBECTL" apply -f "$WORK/rbac.yaml" >/dev/null
sa="$(awk '/^kind: ServiceAccount/{f=1} f && /^  name:/{print $2; exit}' "$WORK/rbac.yaml")"
[[ -n "$sa" ]] || fail "the chart renders a ServiceAccount"
# What a kubelet mounts: token, ca.crt and namespace, readable by the container's user.
sadir="$WORK/serviceaccount"; mkdir -p "$sadir"
bash "$CLUSTER" token "$WORK/cluster" "$NS" "$sa" 1h >"$sadir/token"
cp "$WORK/cluster/certs/apiserver.crt" "$sadir/ca.crt"
printf '%s' "$NS" >"$sadir/namespace"
chmod 0755 "$sadir"; chmod 0644 "$sadir"/*

step "podman run $IMAGE (non-root, read-only root, no capabilities, pod-shaped in-cluster config)"
health_port="$(free_port)"; metrics_port="$(free_port)"
# --network host: the local API server and the simulator listen on loopback only.
podman run -d --name "$NAME" --network host \
  --user 65532:65532 --read-only --read-only-tmpfs=false --tmpfs /tmp:rw,size=16m,mode=1777 \
  --cap-drop all --security-opt no-new-privileges \
  -v "$sadir:/var/run/secrets/kubernetes.io/serviceaccount:ro" \
  -e KUBERNETES_SERVICE_HOST=127.0.0.1 -e KUBERNETES_SERVICE_PORT="$APISERVER_PORT" \
  -e POD_NAME=smoke-pod -e POD_NAMESPACE="$NS" \
  -e CAMS_OPERATOR_NAMESPACES="$NS" -e CAMS_OPERATOR_ENDPOINT="$SIM_URL" \
  -e CAMS_OPERATOR_HEALTH_ADDR="127.0.0.1:$health_port" -e CAMS_OPERATOR_METRICS_ADDR="127.0.0.1:$metrics_port" \
  -e CAMS_OPERATOR_LOG_FORMAT=json -e CAMS_OPERATOR_OBSERVE_INTERVAL=30s -e CAMS_OPERATOR_OBSERVE_MIN_INTERVAL=1s \
  -e CAMS_OPERATOR_SETTLE=3s -e CAMS_OPERATOR_SHUTDOWN_GRACE=10s \
  "$IMAGE" >/dev/null
logs() { podman logs "$NAME" 2>&1 | tail -n 40 >&2; }
trap 'logs' ERR

pid="$(podman inspect --format '{{.State.Pid}}' "$NAME")"
status="$(cat "/proc/$pid/status")"
check_eq "the process runs as uid 65532" "65532 65532 65532 65532" "$(awk '/^Uid:/{print $2, $3, $4, $5}' <<<"$status")"
check_eq "the process runs as gid 65532" "65532 65532 65532 65532" "$(awk '/^Gid:/{print $2, $3, $4, $5}' <<<"$status")"
check_eq "no effective capabilities" "0000000000000000" "$(awk '/^CapEff:/{print $2}' <<<"$status")"
check_eq "no bounding capabilities" "0000000000000000" "$(awk '/^CapBnd:/{print $2}' <<<"$status")"
check_eq "no new privileges" "1" "$(awk '/^NoNewPrivs:/{print $2}' <<<"$status")"
check_eq "seccomp filter on" "2" "$(awk '/^Seccomp:/{print $2}' <<<"$status")"
root_opts="$(awk '$5=="/"{print $6}' "/proc/$pid/mountinfo" | tail -n 1)"
check "the root filesystem is mounted read-only ($root_opts)" grep -qE '(^|,)ro(,|$)' <<<"$root_opts"

readyz() { [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$health_port/readyz")" == 200 ]]; }
eventually 60 "/readyz answers 200 (in-cluster config from the mounted ServiceAccount)" readyz
check "/healthz answers ok" bash -c "[[ \$(curl -fsS http://127.0.0.1:$health_port/healthz) == ok ]]"

step "a ChatGroup reconciled against the simulator"
"$KUBECTL" -n "$NS" create secret generic cams-credentials \
  --from-literal=accessKeyId=smoke-key-id --from-literal=accessKeySecret=smoke-key-secret >/dev/null
"$KUBECTL" apply -f - >/dev/null <<YAML
apiVersion: cams.dev/v1alpha1
kind: ChatGroup
metadata: {name: smoke, namespace: $NS}
spec:
  businessNumber: "8613800001234"
  custSpaceId: cams-smoke
  groupId: EA303SMOKE
  subject: from the image
  credentialsSecretRef: {name: cams-credentials}
YAML
ready() { [[ "$("$KUBECTL" -n "$NS" get chatgroup smoke -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]]; }
eventually 90 "the ChatGroup becomes Ready" ready
subject="$(curl -fsS "$SIM_URL/admin/groups/cams-smoke/8613800001234/EA303SMOKE" | python3 -c 'import json,sys; print(json.load(sys.stdin)["subject"])')"
check_eq "the simulator's group has the spec's subject" "from the image" "$subject"
calls="$(curl -fsS "$SIM_URL/admin/calls?custSpaceId=cams-smoke&action=UpdateChatGroup" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["calls"]))')"
check_eq "exactly one UpdateChatGroup call" "1" "$calls"
metrics="$(curl -fsS "http://127.0.0.1:$metrics_port/metrics")"
check "/metrics counts the call" grep -qE '^cams_operator_cams_requests_total\{.*action="UpdateChatGroup".*\} 1$' <<<"$metrics"
# podman diff lists the container layer's changes; the runtime itself adds its mount points
# (/etc/hosts, /etc/hostname, /etc/resolv.conf, the ServiceAccount folder, /tmp). Anything else
# would be the operator writing to its root filesystem (which is read-only anyway).
changes="$(podman diff "$NAME" | grep -vxE '[AC] (/etc|/etc/(hosts|hostname|resolv\.conf)|/tmp|/var|/var/run|/var/run/secrets(/kubernetes\.io(/serviceaccount)?)?)' || true)"
check_eq "nothing but the runtime's mount points in the container layer (podman diff)" "" "$changes"

step "SIGTERM"
podman kill --signal TERM "$NAME" >/dev/null
t0=$SECONDS
code="$(timeout 30 podman wait "$NAME")" || fail "the container did not exit within 30s of SIGTERM"
check_eq "exit code after SIGTERM" "0" "$code"
pass "exited $((SECONDS - t0))s after SIGTERM"
check "the log says the signal was received" bash -c "podman logs $NAME 2>&1 | grep -q 'shutdown signal received'"
trap - ERR
say "image smoke test passed in $((SECONDS - start))s"
summary
