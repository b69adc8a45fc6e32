#!/usr/bin/env bash
# The chart and GitOps-health tier (no cluster):
#   1. charts/cams-operator/crds/ is byte-for-byte crds/;
#   2. `helm lint --strict` and `helm template` with the default values and with every
#      tests/helm/values-*.yaml (helm built by hack/helm.sh, pinned and cached);
#   3. pytest: the rendered chart (test_chart.py), docs/argocd-health.lua on a sample of every
#      outcome-table row in Lua 5.1 via lupa (test_argocd_health.py), and the kstatus rules on
#      the same samples (test_kstatus.py, hack/kstatus built and cached).
#
#   bash tests/helm/run.sh [--lint-only] [pytest args...]
#
# The venv lives under $HOME/.cache/cams-operator/helm-venv-<hash of requirements.txt>.
# CAMS_OPERATOR_BIN (default target/debug/cams-operator) is checked for the chart's settings
# when it exists.
set -euo pipefail

started=$(date +%s)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
chart="$root/charts/cams-operator"
log() { echo "helm-tests: $*"; }
lap() { echo "$(( $(date +%s) - $1 ))s"; }

lint_only=""
if [[ "${1:-}" == "--lint-only" ]]; then lint_only=1; shift; fi

# --- 1. the CRD copy ----------------------------------------------------------------------------
if ! cmp -s "$root/crds/chatgroups.cams.dev.yaml" "$chart/crds/chatgroups.cams.dev.yaml"; then
    log "charts/cams-operator/crds/chatgroups.cams.dev.yaml differs from crds/chatgroups.cams.dev.yaml;"
    log "  fix: cp crds/chatgroups.cams.dev.yaml charts/cams-operator/crds/"
    exit 1
fi
log "chart CRD is identical to crds/chatgroups.cams.dev.yaml"

# --- 2. helm lint and template -------------------------------------------------------------------
t=$(date +%s)
helm="$(bash "$root/hack/helm.sh" bin)"
log "$("$helm" version --short) ($(lap "$t"))"
t=$(date +%s)
value_sets=("")
for f in "$here"/values-*.yaml; do value_sets+=("$f"); done
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for f in "${value_sets[@]}"; do
    args=()
    label="default values"
    if [[ -n "$f" ]]; then args=(-f "$f"); label="${f#"$root"/}"; fi
    echo "== helm lint --strict ($label)"
    "$helm" lint --strict "$chart" "${args[@]}"
    echo "== helm template ($label)"
    "$helm" template cams "$chart" --namespace cams-system "${args[@]}" >"$tmp/out.yaml"
    echo "rendered $(grep -c '^kind: ' "$tmp/out.yaml") objects: $(grep '^kind: ' "$tmp/out.yaml" | cut -d' ' -f2 | sort | uniq -c | awk '{printf "%s%s×%s", sep, $2, $1; sep=", "}')"
done
log "lint and template: $(lap "$t")"
if [[ -n "$lint_only" ]]; then log "done in $(lap "$started")"; exit 0; fi

# --- 3. pytest ------------------------------------------------------------------------------------
python="${PYTHON:-python3}"
command -v "$python" >/dev/null || { log "no $python on PATH"; exit 1; }
requirements="$here/requirements.txt"
venv="$HOME/.cache/cams-operator/helm-venv-$(sha256sum "$requirements" | cut -c1-16)"
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [[ -f "$venv/.complete" ]] && "$venv/bin/python" -c 'import lupa.lua51, yaml, pytest' 2>/dev/null; then
    log "using venv $venv"
else
    t=$(date +%s)
    log "creating venv $venv ($("$python" --version 2>&1))"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    log "installing $(grep -v '^#' "$requirements" | tr '\n' ' ')"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install --no-input --quiet \
        -r "$requirements" </dev/null
    touch "$venv/.complete"
    log "venv ready ($(lap "$t"))"
fi
flock -u 9

t=$(date +%s)
kstatus="$(bash "$root/hack/kstatus/build.sh")"
log "kstatus: $kstatus ($(lap "$t"))"

export CAMS_HELM_BIN="$helm" CAMS_KSTATUS_BIN="$kstatus"
if [[ -z "${CAMS_OPERATOR_BIN:-}" ]]; then
  # Where cargo puts what it builds (honours CARGO_TARGET_DIR).
  target="$(cd "$root" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
  CAMS_OPERATOR_BIN="$target/debug/cams-operator"
fi
export CAMS_OPERATOR_BIN
export PYTHONDONTWRITEBYTECODE=1
t=$(date +%s)
(cd "$here" && "$venv/bin/python" -m pytest -p no:cacheprovider -q "$@" </dev/null)
log "pytest: $(lap "$t"); all done in $(lap "$started")"
