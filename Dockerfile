# syntax=docker/dockerfile:1
# The cams-operator image for people with Docker: the release binary and exactly what it needs
# (glibc's loader and libraries, passwd/group, nsswitch.conf — assembled by hack/image/rootfs.sh)
# on an empty base, running as uid 65532. `make image` builds the same layout here without a
# registry (hack/image/Containerfile); tests/image/layout.sh fails when the two differ.
#
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg SOURCE=https://github.com/OWNER/cams-operator -t registry.example.com/cams-operator:0.1.0 .
#
# The release workflow (.github/workflows/release.yml) builds it for linux/amd64 and linux/arm64.

ARG RUST_VERSION=1.95

# --- build ------------------------------------------------------------------------------------
FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# A workspace member (the CAMS simulator, a dev-dependency): cargo needs its manifest and
# sources to resolve the workspace, though the image only builds the operator.
COPY crates ./crates
COPY crds ./crds
COPY hack/image/rootfs.sh ./hack/image/rootfs.sh
# The operator allocates with jemalloc, whose page size is fixed when it is built: on arm64 it
# is built for 64 KiB pages, which also runs on kernels with 4 KiB pages (not the reverse).
ARG TARGETARCH
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    if [ "$TARGETARCH" = arm64 ]; then export JEMALLOC_SYS_WITH_LG_PAGE=16; fi \
 && cargo build --release --locked --bin cams-operator \
 && bash hack/image/rootfs.sh target/release/cams-operator /rootfs

# --- runtime: the same instructions as hack/image/Containerfile -------------------------------
FROM scratch
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=unknown
COPY --from=build /rootfs/ /
LABEL org.opencontainers.image.title="cams-operator" \
      org.opencontainers.image.description="Kubernetes operator for WhatsApp groups on Alibaba Cloud CAMS (ChatGroup resources)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
USER 65532:65532
# /metrics and /healthz, /readyz (the chart's defaults).
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/cams-operator", "run"]
