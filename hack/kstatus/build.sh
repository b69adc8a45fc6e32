#!/usr/bin/env bash
# Builds hack/kstatus (a tiny program around sigs.k8s.io/cli-utils/pkg/kstatus/status, at the
# version pinned in go.mod/go.sum) into a cache under the home folder keyed by the hash of
# its sources, and prints the binary's path on stdout. A no-op when cached.
#
#   KSTATUS="$(bash hack/kstatus/build.sh)"; kubectl get chatgroups -o json | "$KSTATUS"
#
# Environment: CAMS_KSTATUS_CACHE (default $HOME/.cache/cams-operator/kstatus), GO.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf 'kstatus: %s\n' "$*" >&2; }
die() { printf 'kstatus: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=../go-build.sh
source "$HERE/../go-build.sh"

key="$(cat "$HERE/go.mod" "$HERE/go.sum" "$HERE/main.go" | sha256sum | cut -c1-12)"
version="$(awk '$1=="sigs.k8s.io/cli-utils"{print $2; exit}' "$HERE/go.mod")"
bin_dir="${CAMS_KSTATUS_CACHE:-${HOME:?HOME must be set}/.cache/cams-operator/kstatus}/cli-utils-$version-$key"
bin="$bin_dir/kstatus"
if [[ -x "$bin" ]]; then echo "$bin"; exit 0; fi

go_find
mkdir -p "$bin_dir"
go_build_lock "$bin_dir" kstatus
if [[ -x "$bin" ]]; then echo "$bin"; exit 0; fi
start=$(date +%s)
log "building kstatus (sigs.k8s.io/cli-utils $version) into $bin_dir…"
tmp="$bin_dir/.kstatus.tmp.$$"
trap 'rm -f "$tmp"' EXIT
(cd "$HERE" && CGO_ENABLED=0 "$GO" build -mod=readonly -trimpath -buildvcs=false -ldflags="-s -w" -o "$tmp" .) ||
  die "go build failed (see above)"
mv -f "$tmp" "$bin"
log "built in $(( $(date +%s) - start ))s"
echo "$bin"
