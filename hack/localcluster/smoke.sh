#!/usr/bin/env bash
# End-to-end smoke test of the local control plane: up, CRD with a CEL rule, namespace +
# secret, ServiceAccount token (Forbidden before a RoleBinding, allowed after), restart of
# kube-apiserver alone (old kubeconfig and SA token keep working), down.
# Usage: smoke.sh [DIR]   (default: a fresh temp dir, removed on success)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CL="$HERE/cluster.sh"
DIR="${1:-$(mktemp -d "${TMPDIR:-/tmp}/localcluster-smoke.XXXXXX")}"
keep_dir=${1:+1}

step() { printf '\n== %s\n' "$*" >&2; }
fail() { printf 'SMOKE FAILED: %s\n' "$*" >&2; exit 1; }
trap '"$CL" down "$DIR" >/dev/null 2>&1 || true' EXIT

step "up $DIR"
"$CL" up "$DIR"
# shellcheck disable=SC1091
set -a; source "$DIR/env"; set +a
k() { "$KUBECTL" --kubeconfig "$DIR/kubeconfig" "$@"; }

step "CRD with a CEL validation rule"
k apply -f - <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.smoke.example.com
spec:
  group: smoke.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-validations:
            - rule: "self.min <= self.max"
              message: "min must be <= max"
            properties:
              min: {type: integer}
              max: {type: integer}
EOF
k wait --for=condition=Established crd/widgets.smoke.example.com --timeout=30s
k create namespace smoke
printf 'apiVersion: smoke.example.com/v1\nkind: Widget\nmetadata: {name: good, namespace: smoke}\nspec: {min: 1, max: 2}\n' | k apply -f -
if out="$(printf 'apiVersion: smoke.example.com/v1\nkind: Widget\nmetadata: {name: bad, namespace: smoke}\nspec: {min: 3, max: 2}\n' | k apply -f - 2>&1)"; then
  fail "CEL rule did not reject min > max"
fi
[[ "$out" == *"min must be <= max"* ]] || fail "unexpected rejection: $out"
echo "rejected as expected: $out"

step "secret, lease, event"
k -n smoke create secret generic s1 --from-literal=k=v
[[ "$(k -n smoke get secret s1 -o jsonpath='{.data.k}')" == dg== ]] || fail "secret data"
printf 'apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: l1, namespace: smoke}\nspec: {holderIdentity: me, leaseDurationSeconds: 15}\n' | k apply -f -
printf 'apiVersion: events.k8s.io/v1\nkind: Event\nmetadata: {name: e1, namespace: smoke}\neventTime: "2025-01-01T00:00:00.000000Z"\nreportingController: smoke/test\nreportingInstance: i\naction: Test\nreason: Test\ntype: Normal\nregarding: {kind: Widget, name: good, namespace: smoke, apiVersion: smoke.example.com/v1}\n' | k apply -f -

step "ServiceAccount token via TokenRequest"
token="$("$CL" token "$DIR" smoke operator 1h)"
"$CL" kubeconfig-for-token "$DIR" "$token" "$DIR/sa.kubeconfig"
sa() { "$KUBECTL" --kubeconfig "$DIR/sa.kubeconfig" "$@"; }
sa auth whoami
if out="$(sa -n smoke get secrets 2>&1)"; then fail "SA could list secrets without RBAC"; fi
[[ "$out" == *Forbidden* ]] || fail "expected Forbidden, got: $out"
echo "forbidden as expected"
k -n smoke create role secrets --verb=get,list,watch,create --resource=secrets
k -n smoke create rolebinding operator-secrets --role=secrets --serviceaccount=smoke:operator
for _ in $(seq 1 20); do sa -n smoke get secrets >/dev/null 2>&1 && break; sleep 0.5; done
sa -n smoke get secrets

step "restart kube-apiserver only"
cp "$DIR/kubeconfig" "$DIR/kubeconfig.before"
"$CL" restart-apiserver "$DIR"
"$KUBECTL" --kubeconfig "$DIR/kubeconfig.before" -n smoke get widgets
sa -n smoke get secret s1

step "down"
"$CL" down "$DIR"
"$CL" down "$DIR" # idempotent
trap - EXIT
[[ -n "$keep_dir" ]] || rm -rf "$DIR"
printf '\nSMOKE OK\n' >&2
