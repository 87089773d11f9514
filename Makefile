# Seshat host. `make run` serves on :8090 with its data in ./data;
# `make test` is what CI runs (through .ci/run, after `make lint`).

GO ?= go

.PHONY: run build test lint bench

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

bench:
	@echo "the load bench is not built yet"
