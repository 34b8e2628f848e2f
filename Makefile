# berth — see README.md. `make test` is what CI runs (through .ci/run).
GO ?= go
PKGS ?= ./...

.PHONY: build install test vet bench clean

# berth and berth-sandbox-init, the builtin sandbox's init, which berth
# finds next to itself.
build:
	$(GO) build -o bin/ ./cmd/...

install:
	$(GO) install ./cmd/...

vet:
	$(GO) vet $(PKGS)

# Runs every test against the real engines this machine has, then prints
# what was skipped and why, and a closing "N passed, N failed, N skipped".
test: vet
	./scripts/gotest $(PKGS)

# Benchmarks compare berth against a baseline in the same process; see
# docs/benchmarks.md.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 50x $(PKGS)

clean:
	rm -rf bin test.log
