# cams-operator — the two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
# Where cargo puts what it builds (./target, CARGO_TARGET_DIR or .cargo/config): asked of cargo.
TARGET_DIR := $(shell $(CARGO) metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

.PHONY: demo test lint unit sdk e2e build crd cluster clean helm-lint helm-test

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

## test: every tier — lint, unit tests, the official-SDK oracle, the real-cluster tier.
test: lint unit sdk helm-test e2e

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
	rm -rf .e2e .demo .bench

## helm-lint: helm lint + helm template of charts/cams-operator (default and tests/helm values).
helm-lint:
	bash tests/helm/run.sh --lint-only

## helm-test: the chart (CRD copy, lint, template, rendered objects), the Argo CD health check
## and the kstatus rules on sample statuses.
helm-test: build
	@echo "== chart, Argo CD health (Lua) and kstatus samples"
	CAMS_OPERATOR_BIN=$(TARGET_DIR)/debug/cams-operator bash tests/helm/run.sh
