#!/usr/bin/env bash
# Installs the Debian packages a test tier needs, idempotently and quietly (apt-get as root;
# `apt-get update` only when something is missing). CI starts from a machine with none of them.
#
#   hack/install-deps.sh image   podman, buildah, runc (make image, make image-test)
#   hack/install-deps.sh release shellcheck (actionlint checks the workflows' run: scripts with it)
#   hack/install-deps.sh node    + containerd, the standard CNI plugins, iproute2, socat (make node-test)
set -euo pipefail
log() { printf 'install-deps: %s\n' "$*" >&2; }

# command-or-file|package
image=("podman|podman" "buildah|buildah" "runc|runc" "conmon|conmon")
node=("${image[@]}" "containerd|containerd" "ctr|containerd" "/usr/lib/cni/bridge|containernetworking-plugins"
      "/usr/lib/cni/host-local|containernetworking-plugins" "/usr/lib/cni/loopback|containernetworking-plugins"
      "ip|iproute2" "socat|socat" "gcc|gcc" "/usr/include/unistd.h|libc6-dev")
release=("shellcheck|shellcheck")
case "${1:-}" in
  image) want=("${image[@]}") ;;
  release) want=("${release[@]}") ;;
  node) want=("${node[@]}") ;;
  *) sed -n '5,7p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
esac

missing=()
for entry in "${want[@]}"; do
  what=${entry%%|*} pkg=${entry#*|}
  if [[ $what == /* ]]; then [[ -e $what ]] && continue
  else command -v "$what" >/dev/null 2>&1 && continue
  fi
  [[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
done
if (( ${#missing[@]} == 0 )); then log "$1: all present"; exit 0; fi
[[ $(id -u) -eq 0 ]] || { log "missing ${missing[*]}; run as root: apt-get install ${missing[*]}"; exit 1; }
start=$(date +%s)
log "installing Debian packages: ${missing[*]} (apt-get update first)…"
export DEBIAN_FRONTEND=noninteractive
out="$(mktemp)"; trap 'rm -f "$out"' EXIT
# No recommends: podman would bring crun, which refuses this machine's hybrid cgroup layout.
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$out" 2>&1; then
  cat "$out" >&2
  log "apt-get failed"
  exit 1
fi
log "installed in $(( $(date +%s) - start ))s"
