# ocm: mirror OpenShift content into disconnected networks.
GO      ?= go
BIN     := bin
CMDS    := ocm-plan ocm-fetch ocm-push ocm-pack ocm-unpack ocm-resources ocm-delete
PKGS    := ./...
TEST_TIMEOUT ?= 30m

.PHONY: all build tools image test unit lint demo bench bench-scale deps clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ $(addprefix ./cmd/,$(CMDS))

# Installs what the tests and the demo need on a Debian machine (root);
# does nothing when all is there.
deps:
	@bash .ci/deps.sh

# opm, operator-registry's CLI, at the version tools/opm/go.mod pins: the
# tests run `opm validate` on rebuilt catalogs and start them with `opm serve`.
# catalogquery asks a served catalog what it holds over the gRPC registry API
# (as OLM does). Built once (a minute or two).
tools: $(BIN)/opm $(BIN)/catalogquery $(BIN)/cosign $(BIN)/helm $(BIN)/registry-v3

$(BIN)/opm: tools/opm/go.mod tools/opm/go.sum
	@mkdir -p $(BIN)
	cd tools/opm && CGO_ENABLED=0 $(GO) build -o ../../$(BIN)/opm github.com/operator-framework/operator-registry/cmd/opm

$(BIN)/catalogquery: tools/opm/go.mod tools/opm/go.sum tools/opm/catalogquery/main.go
	@mkdir -p $(BIN)
	cd tools/opm && CGO_ENABLED=0 $(GO) build -o ../../$(BIN)/catalogquery ./catalogquery

# cosign, to check signatures at the mirror as a cluster's tooling would
# (cosign verify --key) and to sign fixtures exactly as cosign does; its own
# module, so the main module does not take on sigstore.
$(BIN)/cosign: tools/cosign/go.mod tools/cosign/go.sum
	@mkdir -p $(BIN)
	cd tools/cosign && CGO_ENABLED=0 $(GO) build -o ../../$(BIN)/cosign github.com/sigstore/cosign/v2/cmd/cosign

# helm, to pull the charts from the mirror as a cluster's tooling would
# (helm pull oci://, helm show chart, helm template); its own module at the
# version the main module reads charts with. The version is stamped as
# Helm's own release build does (else `helm version` says only v3.N).
# Built once (about two and a half minutes on two cores).
$(BIN)/helm: tools/helm/go.mod tools/helm/go.sum
	@mkdir -p $(BIN)
	cd tools/helm && CGO_ENABLED=0 $(GO) build -ldflags "-X helm.sh/helm/v3/internal/version.version=$$($(GO) list -m -f '{{.Version}}' helm.sh/helm/v3)" -o ../../$(BIN)/helm helm.sh/helm/v3/cmd/helm

# distribution v3's registry, which the tests start with
# validation.manifests.indexes.platforms: none to hold sparse indexes
# (Debian's docker-registry, distribution 2.x, refuses them); its own module.
$(BIN)/registry-v3: tools/registry/go.mod tools/registry/go.sum
	@mkdir -p $(BIN)
	cd tools/registry && CGO_ENABLED=0 $(GO) build -o ../../$(BIN)/registry-v3 github.com/distribution/distribution/v3/cmd/registry

# The commands as an OCI image in $(BIN)/image (an OCI layout), built without
# a container engine: static binaries on an empty base, reproducible (same
# digest for the same commit and Go version). Prints the digest.
# PUSH=docker://HOST/REPO:TAG also pushes it (credentials from the usual
# auth files).
PUSH ?=
image:
	$(GO) run ./tools/mkimage --out $(BIN)/image $(if $(PUSH),--push $(PUSH))

# Runs every test, including those against real registries (docker-registry,
# skopeo and htpasswd must be installed: `make deps`).
# -count=1: the e2e tests build cmd/ themselves, which go test's result cache
# does not see, so a cached pass could hide a broken command.
test: deps build tools
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

# Fast tests only (no real registry).
unit:
	$(GO) test -short $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# The product in one run (test/demo): a source site with releases, a catalog
# and additional images, a Helm chart repository, mirror to disk, the source
# stopped, disk to mirror, cluster resources, a rerun that moves nothing, a
# skopeo check. Prints each command; leaves everything in demo-out/. TestDemo
# runs the same program.
demo: deps build
	$(GO) run ./test/demo

# Benchmarks against skopeo on the same data (ratios matter, not seconds), and
# default concurrency against tuned flags (BenchmarkDefaults, interleaved rounds).
bench: deps build
	$(GO) test -run '^$$' -bench 'MirrorToMirror|PackUnpack|CatalogPlan|PlanReleases' -benchtime 3x -timeout 60m ./bench/
	$(GO) test -run '^$$' -bench 'Suite|Defaults' -benchtime 1x -timeout 60m ./bench/

# The scale measurements, one iteration each (tens of minutes): catalogs of
# Red Hat's size (planned alone and three in one configuration, served by
# opm), and 20,000 additional images through every stage.
bench-scale: deps build tools
	$(GO) test -run '^$$' -bench 'CatalogScale|CatalogParallel|CatalogServe|AdditionalScale' -benchtime 1x -timeout 180m ./bench/

clean:
	rm -rf $(BIN)
