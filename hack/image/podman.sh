# shellcheck shell=bash
# Sourced: podman with this machine's settings (hack/image/containers.conf): runc, cgroupfs,
# no default ulimits. `podman …` below means this function.
export CONTAINERS_CONF="${CONTAINERS_CONF:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/containers.conf}"
podman() { command podman --runtime runc --cgroup-manager cgroupfs --events-backend file "$@"; }
