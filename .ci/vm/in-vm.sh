#!/bin/bash
# Runs inside the Debian 12 VM (systemd as PID 1, cgroup v2), started by
# berth-vm-job.service as root, with the job's binaries in /job/bin (made
# by .ci/vm/run.sh) and the repository read-only at /src. Writes one line
# per step to /job/out/summary and each step's log beside it; the VM
# powers off after.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
bin=/job/bin out=/job/out
mkdir -p "$out"
: >"$out/summary"
exec >"$out/in-vm.log" 2>&1
echo "vm: $(uname -r), $(stat -f -c %T /sys/fs/cgroup), PID 1 $(cat /proc/1/comm)"
status=0
# BERTH_VM_STEPS (a regular expression, passed as /job/steps) picks steps.
only=$(cat /job/steps 2>/dev/null || true)
step() { # NAME CMD...: runs CMD, records ok/FAIL with the time
  local name=$1 t0=$SECONDS
  shift
  if [ -n "$only" ] && ! [[ $name =~ $only ]]; then
    return 0
  fi
  if "$@" >"$out/$name.log" 2>&1; then
    echo "ok   $name ($((SECONDS - t0))s)" | tee -a "$out/summary"
  else
    echo "FAIL $name ($((SECONDS - t0))s)" | tee -a "$out/summary"
    grep -E '^\s*(--- FAIL|FAIL|panic)|_test\.go:[0-9]+|suite\.go:[0-9]+' "$out/$name.log" | head -30
    status=1
  fi
}

# The tests find their fixtures by the path they were compiled at: show
# the repository there too. A minbase root has no /etc/hosts.
repo=$(cat /job/repo-path)
mkdir -p "$repo" && mount --bind /src "$repo"
[ -s /etc/hosts ] || printf '127.0.0.1 localhost\n::1 localhost\n127.0.1.1 berth-vm\n' >/etc/hosts
id berth >/dev/null 2>&1 || useradd --system --home-dir /var/lib/berth --shell /usr/sbin/nologin berth
id berth-test >/dev/null 2>&1 || useradd --system --create-home --home-dir /var/lib/berth-test --shell /bin/sh berth-test
runuser -u berth-test -- mkdir -p /var/lib/berth-test/tmp
# How much slower than a real machine the VM is (5 under TCG; run.sh).
scale=$(cat /job/time-scale 2>/dev/null || echo 1)
common=(--wait --pipe --quiet --collect -p OOMPolicy=continue -E BERTH_TEST_TIME_SCALE=$scale -E BERTH_TEST_INIT=$bin/berth-sandbox-init -E BERTH_TEST_PTRACESTOP=$bin/ptracestop -E PATH="$PATH")
user=(-p User=berth-test -E HOME=/var/lib/berth-test -E TMPDIR=/var/lib/berth-test/tmp)
suite() { # PKG: the test binary of PKG, run from its directory
  local name=${1//\//_}
  echo "$bin/$name.test"
}

# 1. As root in a unit with MemoryMax: the runs' groups stay inside it.
for pkg in sandbox/internal/cgroups sandbox/builtin sandbox/nspawn sandbox; do
  step "root-unit-${pkg//\//_}" systemd-run "${common[@]}" -p MemoryMax=1G -p Delegate=yes \
    --working-directory=$repo/$pkg "$(suite $pkg)" -test.count=1 -test.v
done
# The unit's MemoryMax bounds a run whose own limit is larger (issue 19:
# an addon reached 248 MiB under MemoryMax=64M).
step root-unit-memorymax-bounds-runs systemd-run "${common[@]}" -p MemoryMax=96M -p MemorySwapMax=0 -p Delegate=yes \
  -E BERTH_TEST_UNIT_MEMORY_MAX_MIB=96 --working-directory=$repo/sandbox/builtin \
  "$(suite sandbox/builtin)" -test.count=1 -test.v -test.run '^TestAUnitsMemoryMaxBoundsItsRuns$'
# Root without Delegate=yes: still below the unit.
step root-unit-undelegated-memorymax systemd-run "${common[@]}" -p MemoryMax=96M -p MemorySwapMax=0 \
  -E BERTH_TEST_UNIT_MEMORY_MAX_MIB=96 --working-directory=$repo/sandbox/builtin \
  "$(suite sandbox/builtin)" -test.count=1 -test.v -test.run '^TestAUnitsMemoryMaxBoundsItsRuns$'

# 2. As a service user with Delegate=yes: cgroups, OOM reports.
for pkg in sandbox/internal/cgroups sandbox/builtin sandbox/nspawn sandbox; do
  step "user-delegated-${pkg//\//_}" systemd-run "${common[@]}" "${user[@]}" -p Delegate=yes \
    --working-directory=$repo/$pkg "$(suite $pkg)" -test.count=1 -test.v
done
step user-delegated-limits-are-cgroups systemd-run "${common[@]}" "${user[@]}" -p Delegate=yes \
  -E BERTH_TEST_EXPECT_LIMITS=cgroup --working-directory=$repo/sandbox/builtin \
  "$(suite sandbox/builtin)" -test.count=1 -test.v -test.run '^TestAGoProgramGetsTheMemoryItIsAllowed$'

# 3. As a service user without delegation: rlimits, said so.
for pkg in sandbox/builtin sandbox/internal/cgroups; do
  step "user-undelegated-${pkg//\//_}" systemd-run "${common[@]}" "${user[@]}" \
    --working-directory=$repo/$pkg "$(suite $pkg)" -test.count=1 -test.v
done
step user-undelegated-limits-are-rlimits systemd-run "${common[@]}" "${user[@]}" \
  -E BERTH_TEST_EXPECT_LIMITS=rlimits --working-directory=$repo/sandbox/builtin \
  "$(suite sandbox/builtin)" -test.count=1 -test.v -test.run '^TestAGoProgramGetsTheMemoryItIsAllowed$'

# 4. The shipped unit: berth doctor as berth inside it, then berth serve.
sed -e "s|@BINDIR@|$bin|g" $repo/dist/systemd/berth.service.in >/etc/systemd/system/berth.service
sed -e "s|^ExecStart=.*|ExecStart=$bin/berth doctor|" -e 's|^Type=simple|Type=oneshot|' -e '/^Restart=/d' \
  -e "/^\[Service\]/a StandardOutput=file:$out/doctor.txt" /etc/systemd/system/berth.service >/etc/systemd/system/berth-doctor.service
systemctl daemon-reload
doctor_green() {
  systemctl start berth-doctor.service || true
  cat "$out/doctor.txt"
  grep -q '^ok    sandbox limits     cgroup v2: memory 2GiB, pids 1024; OOM kills reported' "$out/doctor.txt" &&
    grep -q '^ok    sandbox in use     builtin' "$out/doctor.txt" &&
    ! grep -E '^FAIL  (dir|sandbox limits|sandbox builtin|sandbox in use)' "$out/doctor.txt"
}
step shipped-unit-doctor doctor_green
serve_up() {
  systemctl start berth.service && sleep 3 && systemctl is-active berth.service &&
    systemctl status --no-pager berth.service && systemctl stop berth.service
}
step shipped-unit-serve serve_up

# 5. Nothing left behind in the cgroup tree.
leftovers() {
  local left
  left=$(find /sys/fs/cgroup -depth -type d \( -name 'run-*.[0-9]*-*' -o -name 'nspawn-*.[0-9]*-*' -o -name 'doctor.[0-9]*-*' -o -name 'test-*.[0-9]*-*' \) 2>/dev/null)
  [ -d /sys/fs/cgroup/berth ] && left="$left /sys/fs/cgroup/berth"
  echo "left: ${left:-nothing}"
  [ -z "$left" ]
}
step no-leftovers leftovers
echo "vm: done, status $status"
echo "$status" >"$out/status"
sync
# poweroff-force of the job's unit was seen to hang on the 9p shares.
systemctl poweroff --force --force
