#!/usr/bin/env bash
# The package job (issue 17 item 5): `make deb rpm`, then each package
# installed into its own copy of a fresh debootstrapped Debian 12 root
# (.ci/deb/root.sh, cached; it has rpm too) booted with `systemd-nspawn
# -b` (systemd as its PID 1): dpkg -i / rpm -i, the user berth exists,
# /etc/berth/berth.yaml is there, `systemctl start berth` serves
# /healthz with the package's version, `berth doctor` as berth, then
# dpkg --purge / rpm -e leaves no unit behind. One line per step in the
# job's summary, like the VM job.
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

make deb rpm >/dev/null
job=$(mktemp -d /var/tmp/berth-deb-job.XXXXXX)
trap 'rm -rf "$job"' EXIT
# When the host's PID 1 is not systemd there is no machined: no
# registration; /run/systemd/nspawn must be a tmpfs (.ci/sandbox-setup.sh).
if [ ! -d /run/systemd/system ] && ! mountpoint -q /run/systemd/nspawn; then
  mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn
fi
status=0
for kind in deb rpm; do
  pkg=$(ls -t bin/berth*."$kind" | head -1)
  echo "$kind job: $pkg ($(du -h "$pkg" | cut -f1)) built after $((SECONDS - start))s"
  dir=$job/$kind
  mkdir -p "$dir/io/out"
  cp "$pkg" "$dir/io/berth.$kind"
  cp .ci/deb/in-root.sh "$dir/io/in-root.sh"
  cp -a "$cache/root" "$dir/root"
  # The job runs at boot and powers the container off, whatever its outcome.
  cat >"$dir/root/etc/systemd/system/berth-deb-job.service" <<'UNIT'
[Unit]
Description=berth package job
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
  ln -sf /etc/systemd/system/berth-deb-job.service "$dir/root/etc/systemd/system/multi-user.target.wants/berth-deb-job.service"
  timeout "${BERTH_DEB_TIMEOUT:-600}" systemd-nspawn --quiet --register=no --keep-unit -b -D "$dir/root" \
    --bind="$dir/io:/job" --private-network </dev/null >"$dir/io/out/console.log" 2>&1 || true
  sed "s/^/$kind: /" "$dir/io/out/summary" 2>/dev/null || { echo "$kind job: the container wrote no summary; its console:"; tail -40 "$dir/io/out/console.log"; }
  s=$(cat "$dir/io/out/status" 2>/dev/null || echo 1)
  if [ "$s" != 0 ]; then
    echo "$kind job: failed; logs:"; tail -n 40 "$dir"/io/out/*.log | tail -200
    status=$s
  fi
  rm -rf "$dir/root"
done
echo "package job: $((SECONDS - start))s in all"
exit "$status"
