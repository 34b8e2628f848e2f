#!/usr/bin/env bash
# The VM job (issues 17 and 19): boots Debian 12 with systemd as PID 1
# and cgroup v2 in qemu (KVM when /dev/kvm works, TCG otherwise) and runs
# the sandbox suites there as root in units with MemoryMax=, as a service
# user with and without Delegate=yes, berth doctor and berth serve in the
# shipped unit, and checks that nothing is left in /sys/fs/cgroup
# (.ci/vm/in-vm.sh). The image is built once into the cache
# (.ci/vm/image.sh); each job boots a throw-away overlay of it.
# Usage: .ci/vm/run.sh
#   BERTH_VM_CACHE  where the image is kept (default /var/cache/berth-vm)
#   BERTH_VM_STEPS  a regular expression: run only the steps it matches
#   BERTH_VM_TCG=1  skip the KVM attempt
# The job's logs are left in /var/tmp/berth-vm-out (BERTH_VM_OUT).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
export DEBIAN_FRONTEND=noninteractive
start=$SECONDS
cache=${BERTH_VM_CACHE:-/var/cache/berth-vm}
if ! command -v qemu-system-x86_64 >/dev/null || ! command -v debootstrap >/dev/null; then
  apt-get install -y -qq --no-install-recommends qemu-system-x86 qemu-utils debootstrap >/dev/null
fi
bash .ci/vm/image.sh "$cache"
echo "vm job: image ready after $((SECONDS - start))s"

job=$(mktemp -d /var/tmp/berth-vm-job.XXXXXX)
trap 'rm -rf "$job"' EXIT
mkdir -p "$job/bin" "$job/out"
cp .ci/vm/in-vm.sh "$job/in-vm.sh"
printf '%s\n' "${BERTH_VM_STEPS:-}" >"$job/steps"
echo "$PWD" >"$job/repo-path"
export CGO_ENABLED=0
go build -o "$job/bin/" ./cmd/berth ./cmd/berth-sandbox-init
go build -o "$job/bin/ptracestop" ./sandbox/sandboxtest/testdata/ptracestop # the VM has no Go
go build -tags daemon -o "$job/bin/berthd" ./cmd/berth # berth serve runs it
for pkg in sandbox/internal/cgroups sandbox/builtin sandbox/nspawn sandbox; do
  go test -c -o "$job/bin/${pkg//\//_}.test" "./$pkg"
done
chmod -R a+rX "$job"
echo "vm job: binaries built after $((SECONDS - start))s"

qemu-img create -q -f qcow2 -b "$cache/bookworm.img" -F raw "$job/disk.qcow2"
boot() { # ACCEL...: boots the VM until it powers off
  timeout "${BERTH_VM_TIMEOUT:-1800}" qemu-system-x86_64 "$@" -m 2048 -smp 2 \
    -kernel "$cache/vmlinuz" -initrd "$cache/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 panic=-1 systemd.unified_cgroup_hierarchy=1 systemd.show_status=0 quiet loglevel=3" \
    -drive file="$job/disk.qcow2",if=virtio,format=qcow2 \
    -virtfs local,path="$job",mount_tag=job,security_model=none,id=job \
    -virtfs local,path="$PWD",mount_tag=src,security_model=none,readonly=on,id=src \
    -nic none -display none -serial file:"$job/out/console.log" -no-reboot -monitor none
}
accel=tcg
# KVM when it works, else TCG. Nested KVM often does not: qemu aborts
# at once, or (seen on this CI machine) hangs before the kernel prints
# anything. in-vm.sh creates out/summary first thing: a VM that has not
# within BERTH_VM_KVM_DEADLINE seconds is given up for TCG.
if [ -w /dev/kvm ] && [ -z "${BERTH_VM_TCG:-}" ]; then
  accel=kvm
  echo 1 >"$job/time-scale"
  boot -accel kvm -cpu host 2>"$job/out/qemu-kvm.err" &
  qemu=$!
  for _ in $(seq "${BERTH_VM_KVM_DEADLINE:-90}"); do
    [ -e "$job/out/summary" ] || ! kill -0 "$qemu" 2>/dev/null && break
    sleep 1
  done
  if [ ! -e "$job/out/summary" ]; then
    kill "$qemu" 2>/dev/null || true
  fi
  wait "$qemu" || true
  if [ ! -s "$job/out/summary" ]; then
    echo "vm job: KVM did not boot ($(head -1 "$job/out/qemu-kvm.err")); TCG instead"
    accel=tcg
    rm -f "$job/disk.qcow2"
    qemu-img create -q -f qcow2 -b "$cache/bookworm.img" -F raw "$job/disk.qcow2"
  fi
fi
if [ "$accel" = tcg ]; then
  # Emulated, the VM runs several times slower: the suites' short run
  # timeouts (a fork bomb's 4 s) stretch by this factor
  # (BERTH_TEST_TIME_SCALE; sandbox/sandboxtest).
  echo "${BERTH_VM_TCG_TIME_SCALE:-5}" >"$job/time-scale"
  boot -accel tcg,thread=multi -cpu max || true
fi
echo "vm job: booted with $accel"
cat "$job/out/summary" 2>/dev/null || { echo "vm job: the VM wrote no summary; its console:"; tail -50 "$job/out/console.log"; }
echo "vm job: $((SECONDS - start))s in all"
status=$(cat "$job/out/status" 2>/dev/null || echo 1)
keep=${BERTH_VM_OUT:-/var/tmp/berth-vm-out}
rm -rf "$keep" && cp -r "$job/out" "$keep" && chmod -R a+rX "$keep"
if [ "$status" != 0 ]; then
  echo "vm job: failed; each failing step's test lines (all logs in $keep):"
  for name in $(awk '$1 == "FAIL" {print $2}' "$job/out/summary" 2>/dev/null); do
    echo "-- $name"
    grep -E '^\s*(--- FAIL|FAIL|panic)|_test\.go:[0-9]+|suite\.go:[0-9]+' "$job/out/$name.log" | head -40
  done
  echo "-- in-vm.log"; tail -n 30 "$job/out/in-vm.log"
fi
exit "$status"
