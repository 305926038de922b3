# snaprestore — every entry point a user or CI needs.
#   make demo   builds what is missing, starts a local control plane and walks through a restore
#   make test   unit, fuzz-seed, chart and end-to-end tests on a real kube-apiserver
#   make bench  benchmarks, reported as ratios against a baseline measured in the same run

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO        ?= go
BIN       := $(abspath bin)
TOOLS_MOD := hack/tools
# The control plane the tests and the demo run. Versions are pinned in hack/tools/go.mod
# (k8s.io/kubernetes and go.etcd.io/etcd/server/v3); binaries are cached in bin/ and
# rebuilt only when that module changes.
CONTROL_PLANE := $(BIN)/kube-apiserver $(BIN)/kubectl $(BIN)/etcd $(BIN)/kube-controller-manager $(BIN)/kube-scheduler $(BIN)/kubelet
export KUBEBUILDER_ASSETS := $(BIN)

# The binary hashes block checksums eight at a time with AVX-512 (restore/internal/batchsha),
# which needs Go's simd experiment; without it (a plain `go build`) it uses crypto/sha512.
SIMD := GOEXPERIMENT=simd

# A hung test must not hold CI forever; no single test depends on this bound.
TEST_FLAGS ?= -count=1 -timeout=40m
FUZZ_TIME  ?= 10s

.PHONY: build
build: $(BIN)/snaprestore ## Build the snaprestore binary into bin/.

.PHONY: $(BIN)/snaprestore
$(BIN)/snaprestore:
	$(SIMD) CGO_ENABLED=0 $(GO) build -trimpath -o $@ ./cmd/snaprestore

.PHONY: control-plane
control-plane: $(CONTROL_PLANE) ## Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kubelet into bin/ (once).

# Like Kubernetes' own build, stamp the version (built from the module it is otherwise
# v0.0.0-master), so kubectl version, discovery and Helm's kubeVersion checks see v1.37.x.
K8S_VERSION := $(shell awk '$$1 == "k8s.io/kubernetes" { print $$2 }' $(TOOLS_MOD)/go.mod)
K8S_MINOR   := $(word 2,$(subst ., ,$(K8S_VERSION)))
K8S_LDFLAGS := $(foreach p,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
	-X $(p).gitVersion=$(K8S_VERSION) -X $(p).gitMajor=1 -X $(p).gitMinor=$(K8S_MINOR) -X $(p).gitTreeState=clean)

$(BIN)/kube-apiserver: $(TOOLS_MOD)/go.mod $(TOOLS_MOD)/go.sum
	cd $(TOOLS_MOD) && $(GO) build -ldflags "$(K8S_LDFLAGS)" -o $@ k8s.io/kubernetes/cmd/kube-apiserver
$(BIN)/kubectl: $(TOOLS_MOD)/go.mod $(TOOLS_MOD)/go.sum
	cd $(TOOLS_MOD) && $(GO) build -ldflags "$(K8S_LDFLAGS)" -o $@ k8s.io/kubernetes/cmd/kubectl
# The volume populator's end-to-end tests run the real PV binder, garbage collector and
# scheduler against the test API server (envtest alone runs no controllers).
$(BIN)/kube-controller-manager: $(TOOLS_MOD)/go.mod $(TOOLS_MOD)/go.sum
	cd $(TOOLS_MOD) && $(GO) build -ldflags "$(K8S_LDFLAGS)" -o $@ k8s.io/kubernetes/cmd/kube-controller-manager
$(BIN)/kube-scheduler: $(TOOLS_MOD)/go.mod $(TOOLS_MOD)/go.sum
	cd $(TOOLS_MOD) && $(GO) build -ldflags "$(K8S_LDFLAGS)" -o $@ k8s.io/kubernetes/cmd/kube-scheduler
# The kubelet of test/e2e/kubelet: the populator on a real node with containerd (#10).
$(BIN)/kubelet: $(TOOLS_MOD)/go.mod $(TOOLS_MOD)/go.sum
	cd $(TOOLS_MOD) && $(GO) build -ldflags "$(K8S_LDFLAGS)" -o $@ k8s.io/kubernetes/cmd/kubelet
$(BIN)/etcd: $(TOOLS_MOD)/go.mod $(TOOLS_MOD)/go.sum
	cd $(TOOLS_MOD) && $(GO) build -o $@ go.etcd.io/etcd/server/v3

# helm for the chart tests and `make chart`, pinned in its own module (hack/helm/go.mod)
# and rebuilt only when that module changes.
HELM_MOD := hack/helm
# Like helm's own build, stamp its version and the Kubernetes version of its client-go
# (the default of `helm template`'s .Capabilities.KubeVersion and of lint's checks).
$(BIN)/helm: $(HELM_MOD)/go.mod $(HELM_MOD)/go.sum
	cd $(HELM_MOD) && v=$$($(GO) list -m -f '{{.Version}}' helm.sh/helm/v3) && \
	  k=$$($(GO) list -m -f '{{.Version}}' k8s.io/client-go) && k=$${k#v0.} && k=$${k%%.*} && \
	  $(GO) build -trimpath -o $@ -ldflags "-X helm.sh/helm/v3/internal/version.version=$$v \
	    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$$k \
	    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$$k" \
	  helm.sh/helm/v3/cmd/helm

# versitygw, a real SigV4 S3 server with a posix backend, for the S3 end-to-end tests,
# pinned in its own module (hack/versitygw/go.mod) and rebuilt only when that module changes.
VERSITYGW_MOD := hack/versitygw
$(BIN)/versitygw: $(VERSITYGW_MOD)/go.mod $(VERSITYGW_MOD)/go.sum
	cd $(VERSITYGW_MOD) && $(GO) build -trimpath -o $@ github.com/versity/versitygw/cmd/versitygw

CHART := charts/snaprestore
.PHONY: chart
chart: $(BIN)/helm ## Lint the Helm chart and package it into _output/.
	$(BIN)/helm lint --strict $(CHART)
	$(BIN)/helm package $(CHART) --destination _output

IMAGE ?= ghcr.io/snaprestore/snaprestore:dev
.PHONY: image
image: ## Build the container image IMAGE (needs a Docker engine).
	docker build --tag $(IMAGE) .

.PHONY: test-deps
test-deps: ## Install the Debian packages whose tools the tests run, when missing.
	hack/test-deps.sh

.PHONY: test
test: test-deps control-plane $(BIN)/helm $(BIN)/versitygw build ## Run every test: unit, fuzz seeds, e2e on the real control plane.
	$(GO) vet ./...
	$(GO) test $(TEST_FLAGS) ./...
	@# The packages that verify checksums once more with the vector hashing the binary uses
	@# (the e2e tests above run that binary; these run the engine in-process).
	$(SIMD) $(GO) vet ./restore/...
	$(SIMD) $(GO) test $(TEST_FLAGS) ./restore/...
	$(MAKE) fuzz

# Each fuzz target runs briefly; the checked-in corpus under testdata/fuzz always runs
# as part of `go test`.
FUZZ_TARGETS :=
FUZZ_TARGETS += ./restore/backupstore:FuzzParseBackup ./restore/backupstore:FuzzParseVolume ./restore/backupstore:FuzzDecode ./restore/backupstore:FuzzParseBackingImage
FUZZ_TARGETS += ./restore:FuzzParseHandle ./restore:FuzzParseReference
FUZZ_TARGETS += ./restore/fsread:FuzzImage
FUZZ_TARGETS += ./restore/partition:FuzzList
FUZZ_TARGETS += ./webhook:FuzzValidatingReview
FUZZ_TARGETS += ./certs/pki:FuzzParseKeyPair

.PHONY: fuzz
# On a starved machine Go's fuzzing coordinator can fail a target with "context deadline
# exceeded" while stopping its workers at the end of FUZZ_TIME, with no failing input; such a
# run is repeated once. A real failure writes its input under testdata/fuzz and fails at once.
fuzz: ## Run every fuzz target for FUZZ_TIME.
	@log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		for try in 1 2; do \
			echo "fuzz $$pkg $$name"; \
			if $(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZ_TIME) $$pkg 2>&1 | tee "$$log"; then break; fi; \
			if [ $$try = 1 ] && grep -q 'context deadline exceeded' "$$log" && ! grep -q 'Failing input written' "$$log"; then \
				echo "fuzz $$name: the fuzzing engine timed out stopping its workers, no failing input; once more"; continue; fi; \
			exit 1; \
		done; \
	done

.PHONY: bench
bench: control-plane $(BIN)/versitygw build ## Run benchmarks; each reports a ratio against its baseline.
	@# Restore engine vs cp --sparse=always of the same image, both timed to durable
	@# storage; peak RSS of the CLI; 1 TiB vs 128 MiB volume; verify vs restore.
	$(GO) run ./test/bench/restore -bin $(BIN)/snaprestore
	@# One volume of 5,000 backups (generated cfgs) on file:// and on versitygw (S3 on
	@# loopback): `snaprestore backups` and the "backup not found" answer; S3/file ratios.
	$(GO) run ./test/bench/backups -bin $(BIN)/snaprestore -assets $(BIN)
	@# Files out of a backup (#11): one 1 MiB file of a 4 GiB volume vs a full restore
	@# (objects fetched, wall time); restore --files of 1 GiB in 10,000 files vs cp -a.
	$(GO) run ./test/bench/files -bin $(BIN)/snaprestore
	@# Admission webhook under load: the real handlers vs a no-op handler on the same
	@# HTTPS server, concurrent keep-alive clients on loopback; reviews/s, p50/p99/p99.9,
	@# allocations per review. Bigger runs: ADMISSION_BENCH_FLAGS="-requests 200000".
	$(GO) run ./test/bench/admission $(ADMISSION_BENCH_FLAGS)
	@# The same reviews one kind at a time, in-process (no TLS): ns and allocations of
	@# each handler next to the no-op handler on the same review; the pure rules; decoding.
	$(GO) test -run '^$$' -bench 'Review|Rules|Decode' -benchtime 20000x ./test/bench/admission
	@# 1,000 VolumeSnapshots + VolumeSnapshotContents through kube-apiserver, with and
	@# without the webhook configurations registered, alternating; ratio of wall times.
	@# Bigger runs: APISERVER_BENCH_FLAGS="-objects 5000 -rounds 5".
	$(GO) run ./test/bench/apiserver $(APISERVER_BENCH_FLAGS)
	@# Another CSI driver's objects (not sent, #13): every pair, then half the pairs;
	@# many short rounds, ratios per round (median and spread), under the machine's load.
	$(GO) run ./test/bench/apiserver -other-only -noop=false -rounds 20 -objects 200 $(APISERVER_BENCH_FLAGS)
	$(GO) run ./test/bench/apiserver -mix -noop=false -rounds 10 -objects 400 $(APISERVER_BENCH_FLAGS)
	@# A Block PVC populated from a 1 GiB-written backup on the test node agent vs
	@# snaprestore restore of the same backup to a file, same run (docs/populator.md).
	$(GO) test -run '^$$' -bench 'PopulateBlock|PopulateFilesystem' -benchtime 8x -timeout 30m ./test/e2e/populator
	@# The same Block population on real pods (kubelet, containerd, runc; needs root)
	@# vs snaprestore restore to the same kind of loop device.
	$(GO) test -run '^$$' -bench 'PopulateBlockOnKubelet' -benchtime 6x -timeout 30m ./test/e2e/kubelet

# DEMO_FLAGS=--once exits after the walk-through, with status 0 only if every step behaved
# as expected (CI); without it the cluster keeps running until Ctrl-C. See docs/demo.md.
DEMO_FLAGS ?=

.PHONY: demo
demo: control-plane build ## Start a local control plane with the webhook and walk through a restore.
	@# Built, not `go run`: on Ctrl-C go run exits 1 although the demo stopped cleanly.
	$(GO) build -o $(BIN)/snaprestore-demo ./test/demo
	$(BIN)/snaprestore-demo -bin $(BIN)/snaprestore -assets $(BIN) $(DEMO_FLAGS)

.PHONY: lint
lint: ## go vet and gofmt.
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

.PHONY: help
help:
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'
