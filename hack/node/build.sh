#!/usr/bin/env bash
# The node tier's Kubernetes binaries — kubelet, kube-controller-manager and kube-scheduler —
# built from the same pinned k8s.io/kubernetes module as the local control plane
# (hack/localcluster/versions.env; the Go module is hack/localcluster/node/) and cached under
# the home folder, keyed by the versions, the module files and the build flags.
#
# Usage: hack/node/build.sh [build|bin]
#   build   build into the cache (no-op when cached); progress on stderr
#   bin     print the bin directory (builds first if needed)
#
# Environment: CAMS_NODE_CACHE (default $HOME/.cache/cams-operator/node), GO.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MOD="$HERE/../localcluster/node"
# shellcheck source=../localcluster/versions.env
source "$HERE/../localcluster/versions.env"
log() { printf 'node-build: %s\n' "$*" >&2; }
die() { printf 'node-build: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=../go-build.sh
source "$HERE/../go-build.sh"

k8s_minor="${K8S_VERSION#v1.}"; k8s_minor="${k8s_minor%%.*}"
# The same version stamps and flags as hack/localcluster/cluster.sh.
LDFLAGS="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS+=" -X ${p}.gitVersion=${K8S_VERSION} -X ${p}.gitMajor=1 -X ${p}.gitMinor=${k8s_minor}"
  LDFLAGS+=" -X ${p}.gitTreeState=clean"
done
# CGO as the control plane builds (the default), so the two share Go's build cache.
RECIPE="go build -trimpath -buildvcs=false -ldflags=${LDFLAGS}"
BINARIES=(kubelet kube-controller-manager kube-scheduler)

key="$( { printf '%s\n' "$RECIPE"; cat "$MOD/go.mod" "$MOD/go.sum" "$MOD/tools.go"; } | sha256sum | cut -c1-12)"
BIN_DIR="${CAMS_NODE_CACHE:-${HOME:?HOME must be set}/.cache/cams-operator/node}/$K8S_VERSION-$key/bin"

all_built() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$BIN_DIR/$b" ]] || return 1; done
}

TMP=""
cleanup() { go_ticker_stop; if [[ -n "$TMP" ]]; then rm -rf "$TMP"; fi; TMP=""; }

cmd_build() {
  if all_built; then log "cached: $BIN_DIR"; return 0; fi
  go_find
  mkdir -p "$BIN_DIR"
  go_build_lock "$BIN_DIR" "the node binaries"
  if all_built; then log "cached: $BIN_DIR"; return 0; fi
  trap cleanup EXIT
  trap 'cleanup; log "interrupted"; exit 130' INT TERM
  local total_start b i=0 start
  total_start=$(date +%s)
  log "building kubelet, kube-controller-manager, kube-scheduler ${K8S_VERSION} into $BIN_DIR"
  log "  (go $("$GO" env GOVERSION); the first build takes several minutes, less when the control plane was built first)"
  for b in "${BINARIES[@]}"; do
    i=$((i + 1))
    if [[ -x "$BIN_DIR/$b" ]]; then continue; fi
    log "[$i/${#BINARIES[@]}] building $b ${K8S_VERSION}…"
    start=$(date +%s)
    go_ticker_start "$b" "$start" "      "
    TMP="$(mktemp -d "$BIN_DIR/.tmp.XXXXXX")"
    (cd "$MOD" && GOTMPDIR="$TMP" GOTOOLCHAIN=local "$GO" build -mod=readonly -trimpath \
      -buildvcs=false -ldflags="$LDFLAGS" -o "$TMP/$b" "k8s.io/kubernetes/cmd/$b") ||
      die "building $b failed (see the go output above)"
    mv -f "$TMP/$b" "$BIN_DIR/$b"
    cleanup
    log "      $b done in $(( $(date +%s) - start ))s"
  done
  trap - EXIT INT TERM
  log "built in $(( $(date +%s) - total_start ))s: $BIN_DIR"
}

case "${1:-build}" in
  build) cmd_build ;;
  bin) all_built || cmd_build; echo "$BIN_DIR" ;;
  *) sed -n '7,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
