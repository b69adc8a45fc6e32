#!/usr/bin/env bash
# The two ways to build the image give one layout: the runtime stage of the Dockerfile (for
# people with Docker) and hack/image/Containerfile (`make image`, here) must both start FROM
# scratch, copy one root filesystem that hack/image/rootfs.sh assembled, and carry the same
# ARG, LABEL, USER, EXPOSE and ENTRYPOINT instructions, byte for byte.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TIER="image layout"
source "$ROOT/hack/testlib.sh"
# The instructions of the last stage, comments and blank lines dropped, continuations joined.
last_stage() {
  awk '/^[[:space:]]*#/ || /^[[:space:]]*$/ {next} {print}' "$1" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' |
    awk '/^FROM /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}'
}
docker_stage="$(last_stage "$ROOT/Dockerfile")"
podman_stage="$(last_stage "$ROOT/hack/image/Containerfile")"
check_eq "the Dockerfile's runtime stage starts FROM scratch" "FROM scratch" "$(head -n1 <<<"$docker_stage")"
check_eq "the Containerfile starts FROM scratch" "FROM scratch" "$(head -n1 <<<"$podman_stage")"
check_eq "the Dockerfile copies the build stage's /rootfs/ to /" "COPY --from=build /rootfs/ /" "$(grep '^COPY' <<<"$docker_stage")"
check_eq "the Containerfile copies rootfs/ to /" "COPY rootfs/ /" "$(grep '^COPY' <<<"$podman_stage")"
check "the Dockerfile's build stage assembles /rootfs with hack/image/rootfs.sh" \
  grep -q 'bash hack/image/rootfs.sh target/release/cams-operator /rootfs' "$ROOT/Dockerfile"
rest() { grep -vE '^(FROM|COPY) ' <<<"$1"; }
if diff <(rest "$docker_stage") <(rest "$podman_stage") >&2; then
  pass "the same ARG, LABEL, USER, EXPOSE and ENTRYPOINT ($(rest "$docker_stage" | wc -l) instructions)"
else
  fail "the Dockerfile's runtime stage and hack/image/Containerfile differ (above)"
fi
summary
