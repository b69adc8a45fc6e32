# syntax=docker/dockerfile:1
# The cams-operator image: the operator binary only (not cams-simulator), on a small
# glibc-based distroless base, running as a non-root user.
#
#   docker build -t registry.example.com/cams-operator:0.1.0 .
#
# Cannot be built in this repository's CI (no Docker engine there); see README "Container image".

ARG RUST_VERSION=1.95

# --- build ------------------------------------------------------------------------------------
# Debian 12 (bookworm), the same glibc as the runtime image below.
FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# A workspace member (the CAMS simulator, a dev-dependency): cargo needs its manifest and
# sources to resolve the workspace, though the image only builds the operator.
COPY crates ./crates
COPY crds ./crds
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin cams-operator \
 && install -D -m 0755 target/release/cams-operator /out/cams-operator

# --- runtime ----------------------------------------------------------------------------------
# glibc, libgcc and CA certificates, no shell, no package manager; user 65532 (nonroot).
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="cams-operator" \
      org.opencontainers.image.description="Kubernetes operator for WhatsApp groups on Alibaba Cloud CAMS (ChatGroup resources)" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/cams-operator /usr/local/bin/cams-operator
USER 65532:65532
# /metrics and /healthz, /readyz (the chart's defaults).
EXPOSE 8080 8081
ENTRYPOINT ["cams-operator", "run"]
