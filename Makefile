# cams-operator — the two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
# Where cargo puts what it builds (./target, CARGO_TARGET_DIR or .cargo/config): asked of cargo.
TARGET_DIR := $(shell $(CARGO) metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

.PHONY: demo test lint unit sdk e2e build crd cluster clean helm-lint helm-test
.PHONY: release image image-test node-test helm-package install-yaml release-lint

# The operator's version (Cargo.toml): the image tag, the chart's appVersion.
VERSION := $(shell awk -F'"' '/^version *=/{print $$2; exit}' Cargo.toml)
# Where `make image` tags the image (podman's local storage; no registry is involved).
IMAGE_NAME ?= localhost/cams-operator
IMAGE := $(IMAGE_NAME):$(VERSION)
# The repository install.yaml names (the release workflow passes the registry's).
IMAGE_REPOSITORY ?= $(IMAGE_NAME)
DIST := dist

## demo: build everything, start a local control plane and the CAMS simulator, run the
## operator on examples/, wait for Ready, print the table, clean up.
demo:
	bash hack/demo.sh

.PHONY: bench
## bench: the scale benchmark (not part of `make test`, ~10 min): 1,000 and 10,000 ChatGroups
## through a local control plane and the simulator, the operator's release build, one table
## of figures into bench/results/<date>.md and the README's Performance section.
bench:
	bash bench/run.sh

## test: every tier — lint, unit tests, the official-SDK oracle, the chart, the real-cluster
## tier, the image under podman, the release files and the node tier (the chart's pods).
test: lint unit sdk helm-test e2e image-test release-lint node-test

lint:
	@echo "== cargo fmt --check"
	$(CARGO) fmt --all -- --check
	@echo "== cargo clippy --workspace --all-targets --all-features -D warnings"
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings
	@echo "== cargo doc --no-deps (warnings are errors)"
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --workspace --quiet

unit:
	@echo "== unit tests (no cluster): the operator and the simulator crate"
	$(CARGO) test --workspace

sdk: build
	@echo "== official Alibaba SDK against the simulator (and the operator's signer)"
	CAMS_SIMULATOR_BIN=$(TARGET_DIR)/debug/cams-simulator \
	  CAMS_OPERATOR_BIN=$(TARGET_DIR)/debug/cams-operator bash tests/sdk/run.sh

e2e: build
	@echo "== real-cluster tier (kube-apiserver + etcd + simulator)"
	bash hack/e2e.sh

# --workspace: the simulator is a crate of its own (crates/cams-simulator); its binary is
# still target/debug/cams-simulator.
build:
	$(CARGO) build --workspace --bins

## crd: regenerate crds/ (and the chart's copy) from the Rust types.
crd:
	$(CARGO) run -q --bin cams-operator -- crd > crds/chatgroups.cams.dev.yaml
	cp crds/chatgroups.cams.dev.yaml charts/cams-operator/crds/chatgroups.cams.dev.yaml

## cluster: build (or find cached) kube-apiserver, etcd and kubectl.
cluster:
	bash hack/localcluster/cluster.sh build

clean:
	$(CARGO) clean
	rm -rf .e2e .demo .bench .image-test .node-test $(DIST)

## release: the operator's release build (what the image carries).
release:
	$(CARGO) build --release --locked --bin cams-operator

## image: the OCI image, FROM scratch + the release binary and what it needs, built with podman
## (no registry, no Docker engine), saved as dist/image/cams-operator-<version>.oci.tar and
## loaded into podman as $(IMAGE). The Dockerfile builds the same layout with Docker.
image: release
	@echo "== image $(IMAGE) (podman, FROM scratch)"
	bash hack/install-deps.sh image
	IMAGE_NAME=$(IMAGE_NAME) bash hack/image/build.sh $(TARGET_DIR)/release/cams-operator $(DIST)/image

## image-test: the Dockerfile and the Containerfile agree; the image runs under podman as the
## chart's pod would (non-root, read-only, no capabilities, in-cluster config), becomes ready,
## reconciles a ChatGroup against the simulator and exits 0 on SIGTERM.
image-test: image build
	@echo "== image layout (Dockerfile = Containerfile) and smoke test under podman"
	bash tests/image/layout.sh
	bash tests/image/smoke.sh $(IMAGE)

## helm-package: dist/cams-operator-<chart version>.tgz.
helm-package:
	mkdir -p $(DIST)
	bash hack/helm.sh exec package charts/cams-operator --destination $(DIST)

## install-yaml: dist/install.yaml, the chart rendered with its defaults for people without Helm
## (IMAGE_REPOSITORY=registry/cams-operator names the image; default: the local one).
install-yaml:
	bash hack/install-yaml.sh $(DIST)/install.yaml $(IMAGE_REPOSITORY) $(VERSION)

## release-lint: the release workflow checked with actionlint (built from Go modules), the chart
## packaged and install.yaml rendered.
release-lint: helm-package install-yaml
	@echo "== release files: actionlint (+ shellcheck), helm package, install.yaml"
	bash hack/install-deps.sh release
	bash hack/actionlint.sh check .github/workflows/*.yml

## node-test: the chart's pods on a real node — kubelet, kube-controller-manager, kube-scheduler
## (the pinned k8s.io/kubernetes), containerd + runc + CNI (Debian's): helm install, leader
## failover, namespace deletion, helm uninstall, install.yaml. Root only.
node-test: image build install-yaml
	@echo "== node tier (kubelet + containerd; the operator image as the chart's pods)"
	bash tests/node/run.sh $(IMAGE) $(DIST)/image/cams-operator-$(VERSION).oci.tar $(DIST)/install.yaml

## helm-lint: helm lint + helm template of charts/cams-operator (default and tests/helm values).
helm-lint:
	bash tests/helm/run.sh --lint-only

## helm-test: the chart (CRD copy, lint, template, rendered objects), the Argo CD health check
## and the kstatus rules on sample statuses.
helm-test: build
	@echo "== chart, Argo CD health (Lua) and kstatus samples"
	CAMS_OPERATOR_BIN=$(TARGET_DIR)/debug/cams-operator bash tests/helm/run.sh
