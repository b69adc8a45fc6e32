#!/usr/bin/env bash
# actionlint (the GitHub Actions workflow linter), built from the Go module proxy at a pinned
# version and cached under the home folder like helm (hack/helm.sh).
#
#   hack/actionlint.sh bin            print the binary's path (builds first if needed)
#   hack/actionlint.sh check FILES…   lint the workflows (exit 1 on any finding)
#
# Environment: CAMS_ACTIONLINT_CACHE (default $HOME/.cache/cams-operator/actionlint), GO.
set -euo pipefail
VERSION=v1.7.12
BIN_DIR="${CAMS_ACTIONLINT_CACHE:-${HOME:?HOME must be set}/.cache/cams-operator/actionlint}/$VERSION/bin"
BIN="$BIN_DIR/actionlint"
log() { printf 'actionlint.sh: %s\n' "$*" >&2; }
die() { printf 'actionlint.sh: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=go-build.sh
source "$(dirname "${BASH_SOURCE[0]}")/go-build.sh"

build() {
  [[ -x "$BIN" ]] && return 0
  go_find
  mkdir -p "$BIN_DIR"
  go_build_lock "$BIN_DIR" "actionlint $VERSION"
  [[ -x "$BIN" ]] && return 0
  local start scratch; start=$(date +%s)
  scratch="$(mktemp -d "$BIN_DIR/.scratch.XXXXXX")"
  trap 'go_ticker_stop; rm -rf "$scratch"' EXIT
  log "building actionlint $VERSION into $BIN_DIR (go install from the module proxy)…"
  go_ticker_start actionlint "$start"
  (cd "$scratch" && CGO_ENABLED=0 GOBIN="$scratch/bin" GOTMPDIR="$scratch" GOFLAGS=-buildvcs=false GOTOOLCHAIN=local \
    "$GO" install -trimpath -ldflags="-s -w -X github.com/rhysd/actionlint.version=$VERSION" \
    "github.com/rhysd/actionlint/cmd/actionlint@$VERSION") || die "go install actionlint failed (see above)"
  mv -f "$scratch/bin/actionlint" "$BIN"
  go_ticker_stop; rm -rf "$scratch"; trap - EXIT
  log "built in $(( $(date +%s) - start ))s: $BIN"
}

cmd="${1:-}"; [[ $# -gt 0 ]] && shift
case "$cmd" in
  bin) build; echo "$BIN" ;;
  check) build; (( $# > 0 )) || die "check needs workflow files"; "$BIN" -no-color "$@"; log "ok: $*" ;;
  *) sed -n '5,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
