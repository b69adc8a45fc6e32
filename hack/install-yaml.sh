#!/usr/bin/env bash
# `make install-yaml`: the chart rendered once with its defaults into one manifest for people
# without Helm — the cams-system Namespace, the CRD and every object the chart installs.
#
#   hack/install-yaml.sh OUT_FILE IMAGE_REPOSITORY [IMAGE_TAG]
#   kubectl apply --server-side -f install.yaml
#
# The release workflow publishes it with the registry's image; tests/node/run.sh applies the one
# `make node-test` renders (the local image) to a real node and checks the operator runs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:?usage: hack/install-yaml.sh OUT_FILE IMAGE_REPOSITORY [IMAGE_TAG]}"
repo="${2:?usage: hack/install-yaml.sh OUT_FILE IMAGE_REPOSITORY [IMAGE_TAG]}"
version="$(awk '$1=="appVersion:"{gsub(/"/, "", $2); print $2}' "$ROOT/charts/cams-operator/Chart.yaml")"
tag="${3:-$version}"
ns=cams-system
# HELM: a helm on PATH (the release workflow); else the one hack/helm.sh builds and caches.
helm="${HELM:-$(bash "$ROOT/hack/helm.sh" bin)}"
mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
{
  echo "# cams-operator $tag: the Helm chart charts/cams-operator rendered with its defaults"
  echo "# (namespace $ns, image $repo:$tag). Apply with:"
  echo "#   kubectl apply --server-side -f install.yaml"
  echo "# Settings are the Deployment's CAMS_OPERATOR_* environment variables (see the README)."
  echo "---"
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$ns"
  "$helm" template cams-operator "$ROOT/charts/cams-operator" --namespace "$ns" --include-crds \
    --set "image.repository=$repo" --set "image.tag=$tag"
} >"$tmp"
mv -f "$tmp" "$out"
printf 'install-yaml: %s (%s objects, image %s:%s)\n' "$out" "$(grep -c '^kind:' "$out")" "$repo" "$tag" >&2
