# rgd's Makefile. The two commands that matter: `make run` and `make test`.
SHELL := /usr/bin/env bash
GO ?= go
CONTROLLER_GEN ?= $(GO) run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0
# Packages under test; the race detector is on everywhere.
TEST_FLAGS ?= -race -count=1 -timeout 30m

.PHONY: all build image image-push run test unit generate verify-generated control-plane fmt vet bench fuzz clean chaos manifests chart-test helm-lint

all: build

build: ## Build bin/rgd.
	$(GO) build -o bin/rgd ./cmd/rgd

# IMG names the image: its name in bin/rgd-image.tar, and where `make image-push` pushes it.
# The chart's image values name the one a cluster pulls (deploy/ renders them). VERSION overrides `git describe`.
IMG ?= rgd:dev
VERSION ?=
image: ## Build the image for linux/amd64 and linux/arm64, no container engine: bin/image/ (OCI layout), bin/rgd-image.tar (docker/podman load).
	$(GO) run ./hack/image build --go '$(GO)' --tag '$(IMG)' $(if $(VERSION),--version '$(VERSION)')

image-push: image ## Push the image to IMG (REGISTRY/REPOSITORY:TAG) with the credentials of docker or podman login.
	$(GO) run ./hack/image push --layout bin/image '$(IMG)'

run: control-plane build ## Start a local control plane with the engine and apply examples/cartsstack.
	./bin/rgd dev

control-plane: ## Build (once) the kube-apiserver, etcd, kwok, ... binaries into the cache.
	hack/control-plane.sh

generate: ## Regenerate deep-copy code and crds/ from the API types.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./pkg/apis/...
	$(CONTROLLER_GEN) crd:crdVersions=v1 paths=./pkg/apis/... output:crd:artifacts:config=crds

verify-generated: ## Fail when generated files are stale.
	hack/verify-generated.sh

# The Helm chart (charts/rgd) is rendered and tested with Helm's library in
# the module hack/chart, which keeps Helm out of the engine's go.mod.
manifests: ## Copy crds/ into the chart and render deploy/ from it.
	cd hack/chart && $(GO) run . -root ../..

chart-test: ## The chart's tests: render, lint, values schema and documentation.
	cd hack/chart && $(GO) vet ./... && $(GO) test $(TEST_FLAGS) ./...

helm-lint: ## `helm lint` of the chart, through Helm's library.
	cd hack/chart && $(GO) test -count=1 -run '^TestLint$$' -v .

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [[ -n "$$out" ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

unit: ## Unit tests only (no control plane).
	$(GO) test $(TEST_FLAGS) -short ./...

test: control-plane verify-generated fmt vet ## Every test: unit and integration, on a real kube-apiserver.
	$(GO) test $(TEST_FLAGS) ./...
	$(MAKE) --no-print-directory chart-test

# BENCH_FLAGS adds harness flags, e.g. BENCH_FLAGS="--quick" or "--qps 400 --burst 800". By default every scenario
# runs at N=100 and 500, the engine at pkg/engine's defaults, as a ServiceAccount (through API Priority and
# Fairness), with a neighbour client timed beside it. 10,000 instances: BENCH_FLAGS="--sizes 10000 --kwok=false".
bench: control-plane ## Benchmarks on a local control plane (N=100,500); results in bench-results.md.
	$(GO) run ./hack/bench --out bench-results.md $(BENCH_FLAGS)

FUZZTIME ?= 30s
fuzz: ## Run every fuzz target for FUZZTIME each (seed corpora live in testdata/fuzz).
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./pkg/template
	$(GO) test -run '^$$' -fuzz '^FuzzParseField$$' -fuzztime $(FUZZTIME) ./pkg/simpleschema
	$(GO) test -run '^$$' -fuzz '^FuzzToOpenAPI$$' -fuzztime $(FUZZTIME) ./pkg/simpleschema
	$(GO) test -run '^$$' -fuzz '^FuzzJSONRoundTrip$$' -fuzztime $(FUZZTIME) ./pkg/cellib
	$(GO) test -run '^$$' -fuzz '^FuzzSeededString$$' -fuzztime $(FUZZTIME) ./pkg/cellib
	$(GO) test -run '^$$' -fuzz '^FuzzParseChain$$' -fuzztime $(FUZZTIME) ./pkg/celenv

clean:
	rm -rf bin .rgd-dev

SEEDS ?= 1,2,3,4,5,6,7,8,9,10
CHAOS_INSTANCES ?= 60
CHAOS_KILLS ?= 10
chaos: control-plane ## Fault tests: the engine through a fault-injecting proxy, SIGKILLed during create, update and delete, per seed.
	RGD_CHAOS_SEEDS=$(SEEDS) RGD_CHAOS_INSTANCES=$(CHAOS_INSTANCES) RGD_CHAOS_KILLS=$(CHAOS_KILLS) $(GO) test -race -count=1 -timeout 180m -run '^TestChaos$$' -v ./pkg/engine/crashtest
