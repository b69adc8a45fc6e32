#!/usr/bin/env bash
# `make image`: the operator's OCI image, built here with no registry and no Docker engine.
#
#   hack/image/build.sh BINARY OUT_DIR
#
# 1. hack/image/rootfs.sh assembles the root filesystem from BINARY (the release build);
# 2. podman builds hack/image/Containerfile (FROM scratch) with the version and source labels
#    and a fixed timestamp (the commit's), as localhost/cams-operator:<version>;
# 3. the image is saved as an OCI archive, OUT_DIR/cams-operator-<version>.oci.tar, the tag is
#    dropped and the archive loaded back into podman (what a node imports is what was tested).
# Prints the image reference on stdout.
#
# Environment: IMAGE_NAME (default localhost/cams-operator), IMAGE_TAG (default the version
# in Cargo.toml), IMAGE_SOURCE (the org.opencontainers.image.source label; default: the
# checkout's origin remote).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
[[ $# -eq 2 ]] || { sed -n '4p' "$0" | sed 's/^# *//' >&2; exit 2; }
bin=$1 out=$2
log() { printf 'image: %s\n' "$*" >&2; }
# shellcheck source=podman.sh
source "$HERE/podman.sh"

version="$(awk -F'"' '/^version *=/{print $2; exit}' "$ROOT/Cargo.toml")"
name="${IMAGE_NAME:-localhost/cams-operator}"
tag="${IMAGE_TAG:-$version}"
ref="$name:$tag"
revision="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
# The source label: IMAGE_SOURCE, else the checkout's origin (as an https URL), else "unknown"
# (the release workflow passes the repository's URL).
origin="$(git -C "$ROOT" remote get-url origin 2>/dev/null || true)"
if [[ $origin =~ ^git@([^:]+):(.+)$ ]]; then origin="https://${BASH_REMATCH[1]}/${BASH_REMATCH[2]}"; fi
source_url="${IMAGE_SOURCE:-${origin%.git}}"
source_url="${source_url:-unknown}"
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || echo 0)}"
export SOURCE_DATE_EPOCH

start=$(date +%s)
mkdir -p "$out"
ctx="$out/context"
log "[1/3] root filesystem from $bin"
bash "$HERE/rootfs.sh" "$bin" "$ctx/rootfs"
log "[2/3] podman build $ref (FROM scratch; version $version, revision ${revision:0:12})"
podman build --quiet --timestamp "$SOURCE_DATE_EPOCH" -f "$HERE/Containerfile" \
  --build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "SOURCE=$source_url" \
  -t "$ref" "$ctx" >/dev/null
archive="$out/cams-operator-$tag.oci.tar"
log "[3/3] saving $archive and loading it back into podman"
rm -f "$archive"
podman save --quiet --format oci-archive -o "$archive" "$ref"
podman rmi --force "$ref" >/dev/null
podman load --quiet -i "$archive" >/dev/null
# Earlier builds of this tag are left untagged: drop them (ours only, by their title label).
podman image prune --force --filter label=org.opencontainers.image.title=cams-operator >/dev/null
id="$(podman image inspect --format '{{.Id}}' "$ref")"
log "done in $(( $(date +%s) - start ))s: $ref (image ${id:0:12}, $(du -h "$archive" | cut -f1) archive)"
echo "$ref"
