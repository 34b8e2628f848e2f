#!/usr/bin/env bash
# Runs the sandbox suites as an ordinary user (issue 19: "the suites
# assume root"): every test must pass or skip with a reason there.
# Creates the user berth-test (idempotent), compiles the test binaries as
# the caller (root, with the Go module cache) and runs them with
# runuser from their package directories (testdata). A prebuilt
# berth-sandbox-init (BERTH_TEST_INIT) and ptracestop (BERTH_TEST_PTRACESTOP)
# spare the user a Go build.
# Usage: .ci/nonroot-tests.sh [PKG...]   (default: the sandbox packages)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
user=berth-test
home=/var/lib/$user
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./sandbox ./sandbox/builtin ./sandbox/nspawn ./sandbox/internal/cgroups)

if ! id "$user" >/dev/null 2>&1; then
  useradd --system --create-home --home-dir "$home" --shell /bin/sh "$user"
  echo "nonroot-tests: created user $user"
fi
bin=$(mktemp -d /var/tmp/berth-nonroot.XXXXXX)
trap 'rm -rf "$bin"' EXIT
chmod 0755 "$bin"
go build -o "$bin/berth-sandbox-init" ./cmd/berth-sandbox-init
CGO_ENABLED=0 go build -o "$bin/ptracestop" ./sandbox/sandboxtest/testdata/ptracestop
tmp=$home/tmp
runuser -u "$user" -- mkdir -p "$tmp"

status=0
for pkg in "${pkgs[@]}"; do
  name=$(echo "${pkg#./}" | tr / _)
  go test -c -o "$bin/$name.test" "$pkg"
  [ -f "$bin/$name.test" ] || continue # no test files
  chmod 0755 "$bin"/*
  echo "== $pkg as $user"
  # Only the user's own directories: HOME and TMPDIR (a /tmp of mode
  # 0755, as on some machines, is not the user's).
  if (cd "$pkg" && runuser -u "$user" -- env -i PATH="$PATH" HOME="$home" TMPDIR="$tmp" \
      BERTH_TEST_INIT="$bin/berth-sandbox-init" BERTH_TEST_PTRACESTOP="$bin/ptracestop" "$bin/$name.test" -test.count=1 -test.v) >"$bin/$name.log" 2>&1; then
    echo "ok   $pkg as $user: $(grep -c '^--- PASS' "$bin/$name.log") passed, $(grep -c '^--- SKIP' "$bin/$name.log") skipped"
    grep -B1 '^--- SKIP' "$bin/$name.log" | grep -v '^--- SKIP\|^--$' | sed 's/^ */     skip: /' || true
  else
    status=1
    echo "FAIL $pkg as $user"
    grep -E '^(--- FAIL|FAIL|panic)|_test\.go:[0-9]+' "$bin/$name.log" | head -40
  fi
done
exit $status
