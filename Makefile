# berth — see README.md. `make test` is what CI runs (through .ci/run).
GO ?= go
PKGS ?= ./...

.PHONY: build test vet bench clean

build:
	$(GO) build -o bin/berth ./cmd/berth

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
