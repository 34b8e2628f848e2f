# berth — see README.md. `make test` is what CI runs (through .ci/run).
GO ?= go
PKGS ?= ./...

.PHONY: build install pkgfiles deb rpm test vet bench fuzz clean

# berth, berthd (the daemon: cmd/berth built with -tags daemon, which
# `berth serve` runs, so that one-shot commands do not link or initialise
# the server, queue, databases and metrics) and berth-sandbox-init, the
# builtin sandbox's init; berth finds both next to itself.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/berth-dev/berth/internal/buildinfo.version=$(VERSION) -X github.com/berth-dev/berth/internal/buildinfo.commit=$(COMMIT)

# Static (CGO_ENABLED=0), as the packages are: no dynamic loader at each
# start (about 3 ms of `berth addon run`, docs/benchmarks.md), and the
# sandbox init runs inside any image (runner/docker/handback.go).
build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...
	CGO_ENABLED=0 $(GO) build -tags daemon -ldflags "$(LDFLAGS)" -o bin/berthd ./cmd/berth

# Where `make install` puts berth, berthd, berth-sandbox-init, the systemd unit
# of berth serve (dist/systemd/berth.service.in, with BINDIR filled in)
# and the sysusers.d entry that creates its user; DESTDIR for packaging.
# docs/daemon.md, "As a systemd service".
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d

install: build
	install -D -m 0755 bin/berth $(DESTDIR)$(BINDIR)/berth
	install -D -m 0755 bin/berthd $(DESTDIR)$(BINDIR)/berthd
	install -D -m 0755 bin/berth-sandbox-init $(DESTDIR)$(BINDIR)/berth-sandbox-init
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	sed 's|@BINDIR@|$(BINDIR)|g' dist/systemd/berth.service.in > $(DESTDIR)$(UNITDIR)/berth.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/berth.service
	install -m 0644 dist/systemd/berth.sysusers $(DESTDIR)$(SYSUSERSDIR)/berth.conf

# bin/berth_<version>_<arch>.deb and bin/berth-<version>-1.<arch>.rpm:
# berth, berthd and berth-sandbox-init (static, in /usr/bin), the unit
# with BINDIR=/usr/bin, the sysusers.d entry (the install script creates
# the user berth) and a default /etc/berth/berth.yaml, packed by nfpm
# (dist/deb/nfpm.yaml), which `go run` fetches from the module proxy
# once: it is not a dependency of berth. Tested by .ci/deb/run.sh: each
# package installed in a debootstrapped Debian 12 booted with
# systemd-nspawn. docs/daemon.md.
NFPM ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0
PKG_VERSION ?= $(shell git log -1 --format=0.0~git%cd.%h --date=format:%Y%m%d 2>/dev/null || echo 0.0~dev)
PKG_ARCH ?= $(shell $(GO) env GOARCH)

pkgfiles:
	rm -rf build/pkg && mkdir -p build/pkg bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o build/pkg/ ./cmd/berth ./cmd/berth-sandbox-init
	CGO_ENABLED=0 $(GO) build -trimpath -tags daemon -ldflags "$(LDFLAGS)" -o build/pkg/berthd ./cmd/berth
	sed 's|@BINDIR@|/usr/bin|g' dist/systemd/berth.service.in > build/pkg/berth.service

deb rpm: pkgfiles
	DEB_VERSION='$(PKG_VERSION)' DEB_ARCH='$(PKG_ARCH)' $(NFPM) package -f dist/deb/nfpm.yaml -p $@ -t bin/

vet:
	$(GO) vet $(PKGS)
	$(GO) vet -tags daemon ./cmd/berth

# Runs every test against the real engines this machine has, then prints
# what was skipped and why, and a closing "N passed, N failed, N skipped".
test: vet
	./scripts/gotest $(PKGS)

# Benchmarks compare berth against a baseline in the same process; see
# docs/benchmarks.md.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 50x $(PKGS)

# Fuzzes each parser of untrusted input for FUZZTIME (seeds in each
# package's testdata/fuzz; `make test` runs only the seeds), one worker,
# minimising a new input in at most 100 runs (the default, 60 s each,
# took all of a minute's run of FuzzUnzip: 18 inputs). See
# docs/benchmarks.md.
FUZZTIME ?= 60s
FUZZ_TARGETS = ./addon:FuzzParseDescriptor ./addon:FuzzUnzip ./addon:FuzzCleanZipName \
	./output:FuzzDecode ./service/spec:FuzzParse ./config:FuzzLoad ./internal/yamlsafe:FuzzUnmarshal
fuzz:
	@failed=""; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; \
		echo "== $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 100x -parallel 1 $$pkg || failed="$$failed $$name"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz failed:$$failed (a crasher is saved under testdata/fuzz)"; exit 1; fi

clean:
	rm -rf bin build test.log
