# Seshat host. `make run` serves on :8090 with its data in ./data;
# `make test` is what CI runs (through .ci/run, after `make lint`).

GO ?= go

.PHONY: run build test lint bench crash fuzz

run:
	$(GO) run ./cmd/seshat -addr :8090 -data-dir ./data

build:
	$(GO) build -o bin/seshat ./cmd/seshat

test:
	$(GO) test -race ./...

# gofmt -l lists unformatted files and exits 0 regardless, so fail on
# any output.
lint:
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt -w needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# The load bench (docs/perf.md, "Load bench"): builds the server and the
# bench, spawns the server on CPU 0 and the bench on CPU 1 (taskset), runs
# the short default suite and writes bench/results/report.{txt,json,svg}.
# BENCHFLAGS adds flags, e.g. BENCHFLAGS='-scenarios streams -streams 10000'.
BENCHFLAGS ?=
bench:
	$(GO) build -o bin/seshat ./cmd/seshat
	$(GO) build -o bin/seshat-bench ./cmd/seshat-bench
	bin/seshat-bench -spawn -server bin/seshat -out bench/results $(BENCHFLAGS)

# The crash suite: SIGKILL the server at 50 seeded random moments under
# load and check every invariant after each restart. SESHAT_CRASH_SEED=N
# replays a run; `make test` runs a 3-kill version.
CRASH_POINTS ?= 50
crash:
	SESHAT_CRASH_POINTS=$(CRASH_POINTS) $(GO) test -race -count=1 -run '^TestCrashRecovery$$' -v ./cmd/seshat/

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
