#!/usr/bin/env bash
# Builds the node tier's pause image with no registry: pause.c compiled static with gcc, alone
# in a FROM-scratch image (podman), saved as an OCI archive. Prints the archive's path.
#
#   hack/node/pause.sh OUT_DIR      -> OUT_DIR/pause.oci.tar, image localhost/cams-pause:local
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../image/podman.sh
source "$HERE/../image/podman.sh"
out="${1:?usage: hack/node/pause.sh OUT_DIR}"
ref=localhost/cams-pause:local
mkdir -p "$out/pause-context"
gcc -static -Os -s -o "$out/pause-context/pause" "$HERE/pause.c"
printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$out/pause-context/Containerfile"
podman build --quiet --timestamp 0 -t "$ref" "$out/pause-context" >/dev/null
rm -f "$out/pause.oci.tar"
podman save --quiet --format oci-archive -o "$out/pause.oci.tar" "$ref"
printf 'pause: %s (%s)\n' "$out/pause.oci.tar" "$ref" >&2
echo "$out/pause.oci.tar"
