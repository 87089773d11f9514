# Seshat host. `make run` serves on 127.0.0.1:8090 with its data in
# ./data (ADDR=:8090 serves every interface); `make test` is what CI runs
# (through .ci/run, after `make lint`).

GO ?= go
ADDR ?= 127.0.0.1:8090
# VERSION is what `seshat -version` prints for a `make build` binary.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: run build test lint bench cluster crash fuzz generate generate-check proto-lint proto-baseline proto-check image

run:
	$(GO) run -ldflags '$(LDFLAGS)' ./cmd/seshat -addr $(ADDR) -data-dir ./data

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/seshat ./cmd/seshat

test:
	$(GO) test -race -timeout 25m ./...

# golangci-lint runs at a pinned version through `go run`, so a fresh
# machine needs nothing but Go (the first run builds it, about two
# minutes; later runs use the build cache). Its linters are listed in
# .golangci.yml.
GOLANGCI_LINT = $(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0

# gofmt -l lists unformatted files and exits 0 regardless, so fail on
# any output. go mod tidy -diff fails when go.mod or go.sum are not tidy.
lint:
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt -w needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) mod tidy -diff
	$(GO) vet ./...
	$(GOLANGCI_LINT) run ./...

# The load bench (docs/perf.md, "Load bench"): builds the server and the
# bench, spawns the server on CPU 0 and the bench on CPU 1 (taskset), runs
# the short default suite and writes bench/results/report.{txt,json,svg}.
# BENCHFLAGS adds flags, e.g. BENCHFLAGS='-scenarios streams -streams 10000'.
BENCHFLAGS ?=
bench:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/seshat ./cmd/seshat
	$(GO) build -o bin/seshat-bench ./cmd/seshat-bench
	$(GO) build -o bin/seshat-etcd ./cmd/seshat-etcd
	bin/seshat-bench -spawn -server bin/seshat -out bench/results $(BENCHFLAGS)

# The crash suite: SIGKILL the server at 50 seeded random moments under
# load and check every invariant after each restart. SESHAT_CRASH_SEED=N
# replays a run; `make test` runs a 3-kill version. With
# SESHAT_TEST_POSTGRES set it runs on the PostgreSQL store too.
CRASH_POINTS ?= 50
# The long cluster suite: three node processes, an embedded etcd and the
# PostgreSQL at SESHAT_TEST_POSTGRES; CLUSTER_KILL_POINTS rounds each
# SIGKILL a session's owner mid-turn.
CLUSTER_KILL_POINTS ?= 20
cluster:
	SESHAT_REQUIRE_POSTGRES=1 SESHAT_CLUSTER_KILL_POINTS=$(CLUSTER_KILL_POINTS) $(GO) test -count=1 -timeout 60m -run '^TestClusterKillPoints$$' -v ./cmd/seshat/

crash:
	SESHAT_CRASH_POINTS=$(CRASH_POINTS) $(GO) test -race -count=1 -run '^TestCrashRecovery(Postgres)?$$' -v ./cmd/seshat/

# Each fuzz target for FUZZTIME; the seed corpora (f.Add and testdata/fuzz)
# already run in `make test`.
FUZZTIME ?= 60s
FUZZ_TARGETS := \
	./http/httpapi:FuzzDecodeJSON \
	./compat/eventstream:FuzzDecoder \
	./compat/anthropic:FuzzStreamDecoder \
	./compat/anthropic:FuzzFromMessagesRequest \
	./compat/openai:FuzzStreamDecoder \
	./actors/provider:FuzzParseDirectives \
	./persist:FuzzCleanPath \
	./actors/jobs:FuzzParseSchedule \
	./http/sse:FuzzParseCursor
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "== $$fn in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

# The gRPC API's code generation (docs/api.md, "gRPC"). buf and
# protoc-gen-connect-go are pinned in tools/go.mod, a module of their own
# (in the main module, version selection downgraded buf); protoc-gen-go
# runs from the main module, so that it is always the version of the
# google.golang.org/protobuf runtime in go.mod. `go tool` builds each once
# and the Go build cache keeps it: the first run takes about two minutes,
# later ones a few seconds. Nothing is fetched at run time (no remote
# plugins, no registry modules).
BUF = $(GO) tool -modfile=tools/go.mod buf
PROTO_GO = proto/seshat/v1
# The breaking-change baseline: the API as last released. Until a release
# is cut it is the API as first merged; `make proto-baseline` refreshes it
# when a release is made.
PROTO_BASELINE = proto/baseline.binpb

# generate rewrites the generated code from proto/ (the hand-written
# doc.go files stay).
generate:
	rm -f $(PROTO_GO)/*.pb.go $(PROTO_GO)/seshatv1connect/*.connect.go
	$(BUF) generate

# generate-check regenerates into a temporary directory and fails if the
# committed code differs, or if a generated file is missing or stale.
generate-check:
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	$(BUF) generate -o "$$tmp" || exit 1; \
	list() { (cd "$$1" && find proto -name '*.pb.go' -o -name '*.connect.go' | sort); }; \
	list "$$tmp" > "$$tmp/fresh.txt"; list . > "$$tmp/committed.txt"; \
	if ! cmp -s "$$tmp/fresh.txt" "$$tmp/committed.txt"; then \
		echo "the generated files are not those of a fresh make generate (< fresh, > here):"; \
		diff "$$tmp/fresh.txt" "$$tmp/committed.txt"; exit 1; fi; \
	for f in $$(cat "$$tmp/fresh.txt"); do \
		cmp -s "$$tmp/$$f" "$$f" || { echo "$$f is stale: run make generate"; diff -u "$$f" "$$tmp/$$f" | head -40; exit 1; }; \
	done; \
	echo "generated code is up to date"

# proto-lint runs buf lint (STANDARD) and buf breaking against the
# baseline.
proto-lint:
	$(BUF) lint
	$(BUF) breaking --against $(PROTO_BASELINE)

proto-baseline:
	$(BUF) build --exclude-source-info -o $(PROTO_BASELINE)

proto-check: proto-lint generate-check

# The container image (Dockerfile): IMAGE names it. Without Docker, or
# when Docker cannot pull the base images, it fails saying so.
IMAGE ?= seshat:$(VERSION)
image:
	@command -v docker >/dev/null 2>&1 || { echo "make image: docker is not on PATH; install Docker (or set up a compatible builder) to build the image" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make image: the Docker daemon is not reachable (docker info failed)" >&2; exit 1; }
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) . || { echo "make image: docker build failed; it needs to pull golang:1.26 and gcr.io/distroless/static-debian12 (see above)" >&2; exit 1; }
