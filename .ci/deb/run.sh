#!/usr/bin/env bash
# The .deb job (issue 17 item 5): `make deb`, then the package installed
# into a fresh debootstrapped Debian 12 root (.ci/deb/root.sh, cached)
# booted with `systemd-nspawn -b` (systemd as its PID 1): dpkg -i, the
# user berth exists, /etc/berth/berth.yaml is there, `systemctl start
# berth` serves /healthz with the package's version, `berth doctor` as
# berth, then dpkg --purge leaves no unit behind. One line per step in
# the job's summary, like the VM job.
# Usage: .ci/deb/run.sh    (BERTH_DEB_CACHE, default /var/cache/berth-deb)
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
export DEBIAN_FRONTEND=noninteractive
start=$SECONDS
cache=${BERTH_DEB_CACHE:-/var/cache/berth-deb}
command -v debootstrap >/dev/null || apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
command -v systemd-nspawn >/dev/null || apt-get install -y -qq --no-install-recommends systemd-container >/dev/null
bash .ci/deb/root.sh "$cache"
echo "deb job: root ready after $((SECONDS - start))s"

make deb >/dev/null
deb=$(ls -t bin/berth_*.deb | head -1)
echo "deb job: $deb ($(du -h "$deb" | cut -f1)) built after $((SECONDS - start))s"

job=$(mktemp -d /var/tmp/berth-deb-job.XXXXXX)
trap 'rm -rf "$job"' EXIT
mkdir -p "$job/io/out"
cp "$deb" "$job/io/berth.deb"
cp .ci/deb/in-root.sh "$job/io/in-root.sh"
cp -a "$cache/root" "$job/root"
# The job runs at boot and powers the container off, whatever its outcome.
cat >"$job/root/etc/systemd/system/berth-deb-job.service" <<'UNIT'
[Unit]
Description=berth .deb job
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/bash /job/in-root.sh
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity
# poweroff-force as a unit's SuccessAction= was seen to halt the
# container without ending nspawn; the forced call ends it at once.
ExecStopPost=/bin/systemctl poweroff --force --force

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/berth-deb-job.service "$job/root/etc/systemd/system/multi-user.target.wants/berth-deb-job.service"
# When the host's PID 1 is not systemd there is no machined: no
# registration; /run/systemd/nspawn must be a tmpfs (.ci/sandbox-setup.sh).
if [ ! -d /run/systemd/system ] && ! mountpoint -q /run/systemd/nspawn; then
  mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn
fi
timeout "${BERTH_DEB_TIMEOUT:-600}" systemd-nspawn --quiet --register=no --keep-unit -b -D "$job/root" \
  --bind="$job/io:/job" --private-network </dev/null >"$job/io/out/console.log" 2>&1 || true
cat "$job/io/out/summary" 2>/dev/null || { echo "deb job: the container wrote no summary; its console:"; tail -40 "$job/io/out/console.log"; }
echo "deb job: $((SECONDS - start))s in all"
status=$(cat "$job/io/out/status" 2>/dev/null || echo 1)
if [ "$status" != 0 ]; then
  echo "deb job: failed; logs:"; tail -n 40 "$job"/io/out/*.log | tail -200
fi
exit "$status"
