#!/usr/bin/env bash
# helm, built from the Go module proxy at a pinned version and cached under the home folder.
#
# Usage: hack/helm.sh <command>
#   build        build helm into the cache (no-op when cached)
#   bin          print the path of the helm binary (builds first if needed)
#   exec ARGS…   run the cached helm with ARGS (builds first if needed)
#
# It is built on its own with `go install helm.sh/helm/v3/cmd/helm@<version>` from a scratch
# directory, OUTSIDE the local control plane's Go module (whose replace lines pin other
# Kubernetes libraries), with the same version stamps helm's own Makefile sets. Progress goes
# to stderr; stdout carries only results.
#
# Environment:
#   CAMS_HELM_CACHE  cache root (default $HOME/.cache/cams-operator/helm)
#   GO               go command (default: `go` on PATH, else /usr/local/go/bin/go)
set -euo pipefail

# Newest helm v3 release on the module proxy whose go.mod (`go 1.26.0`) the local go1.26.x
# builds without fetching another toolchain. Changing it changes the cache key.
HELM_VERSION=v3.22.0

CACHE_ROOT="${CAMS_HELM_CACHE:-${HOME:?HOME must be set}/.cache/cams-operator/helm}"
BIN_DIR="$CACHE_ROOT/$HELM_VERSION/bin"
HELM="$BIN_DIR/helm"

log() { printf 'helm.sh: %s\n' "$*" >&2; }
die() { printf 'helm.sh: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=go-build.sh
source "$(dirname "${BASH_SOURCE[0]}")/go-build.sh"

SCRATCH=""
cleanup() {
  go_ticker_stop
  if [[ -n "$SCRATCH" ]]; then rm -rf "$SCRATCH"; fi
  SCRATCH=""
}

cmd_build() {
  if [[ -x "$HELM" ]]; then log "cached: $HELM"; return 0; fi
  go_find
  mkdir -p "$BIN_DIR"
  go_build_lock "$BIN_DIR" "helm $HELM_VERSION"
  if [[ -x "$HELM" ]]; then log "cached: $HELM"; return 0; fi
  trap cleanup EXIT
  trap 'cleanup; log "interrupted"; exit 130' INT TERM
  local start; start=$(date +%s)
  # A scratch directory with no go.mod: `go install pkg@version` then ignores any module
  # around the caller and resolves helm's own go.mod, exactly as released.
  SCRATCH="$(mktemp -d "$BIN_DIR/.scratch.XXXXXX")"
  log "building helm $HELM_VERSION into $BIN_DIR (go $("$GO" env GOVERSION); first build takes a few minutes)"
  log "  downloading helm.sh/helm/v3@$HELM_VERSION from $("$GO" env GOPROXY)…"
  local gomod k8s major minor
  gomod="$(cd "$SCRATCH" && "$GO" mod download -json "helm.sh/helm/v3@$HELM_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -f "$gomod" ]] || die "go mod download did not report helm's go.mod"
  # helm's Makefile stamps the Kubernetes version it was built against (client-go v0.X.Y ->
  # 1.X): `helm template` reports it as .Capabilities.KubeVersion and lint checks deprecations
  # against it.
  k8s="$(awk '$1=="k8s.io/client-go"{print $2; exit}' "$gomod")"
  [[ "$k8s" =~ ^v0\.([0-9]+)\. ]] || die "unexpected k8s.io/client-go version '$k8s' in helm's go.mod"
  major=1; minor="${BASH_REMATCH[1]}"
  local ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  local p
  for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X $p.k8sVersionMajor=$major -X $p.k8sVersionMinor=$minor"
  done
  log "  compiling (Kubernetes libraries $k8s)…"
  go_ticker_start helm "$start"
  # GOBIN points at a scratch bin first; the binary is moved into place only when complete.
  (cd "$SCRATCH" && CGO_ENABLED=0 GOBIN="$SCRATCH/bin" GOTMPDIR="$SCRATCH" GOFLAGS=-buildvcs=false \
    "$GO" install -trimpath -ldflags="$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION") ||
    die "go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION failed (see above)"
  mv -f "$SCRATCH/bin/helm" "$HELM"
  cleanup
  trap - EXIT INT TERM
  log "built $("$HELM" version --short 2>/dev/null) in $(( $(date +%s) - start ))s: $HELM"
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  build) cmd_build ;;
  bin) [[ -x "$HELM" ]] || cmd_build; echo "$HELM" ;;
  exec) [[ -x "$HELM" ]] || cmd_build; exec "$HELM" "$@" ;;
  *) sed -n '4,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
