#!/bin/bash
# Runs inside the fresh Debian 12 root booted by .ci/deb/run.sh (systemd
# as PID 1), as root, with the package at /job/berth.deb or
# /job/berth.rpm (the root has rpm, as a Fedora host would). Writes one
# line per step to /job/out/summary and each step's log beside it.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
out=/job/out
: >"$out/summary"
exec >"$out/in-root.log" 2>&1
status=0
step() { # NAME CMD...: runs CMD, records ok/FAIL with the time
  local name=$1 t0=$SECONDS
  shift
  if "$@" >"$out/$name.log" 2>&1; then
    echo "ok   $name ($((SECONDS - t0))s)" >>"$out/summary"
  else
    echo "FAIL $name ($((SECONDS - t0))s)" >>"$out/summary"
    status=1
  fi
}
fresh() { ! id berth && [ ! -e /usr/bin/berth ] && [ ! -e /etc/berth ]; }
step root-is-fresh fresh
if [ -e /job/berth.rpm ]; then
  kind=rpm
  # --nodeps: Debian's rpm database knows none of the root's packages.
  step rpm-install rpm -i --nodeps /job/berth.rpm
  version() { rpm -q --qf '%{VERSION}' berth; }
else
  kind=deb
  step dpkg-install dpkg -i /job/berth.deb
  version() { dpkg-query -W -f '${Version}' berth; }
fi
installed() {
  id berth && [ "$(getent passwd berth | cut -d: -f6)" = /var/lib/berth ] &&
    [ -x /usr/bin/berth ] && [ -x /usr/bin/berthd ] && [ -x /usr/bin/berth-sandbox-init ] &&
    [ -f /etc/berth/berth.yaml ] && grep -q '^ExecStart=/usr/bin/berth serve$' /usr/lib/systemd/system/berth.service &&
    systemctl is-enabled berth.service && ! systemctl is-active berth.service
}
step user-config-unit-enabled-not-started installed
serves() {
  systemctl start berth.service || return 1
  for _ in $(seq 1 60); do
    body=$(curl -fsS http://127.0.0.1:8470/healthz) && break
    sleep 0.5
  done
  echo "healthz: ${body:-none}"
  systemctl status --no-pager berth.service
  [ -n "${body:-}" ] && echo "$body" | grep -q "$(version | sed 's/.*\.//')" &&
    [ "$(stat -c %U "/proc/$(systemctl show -p MainPID --value berth.service)")" = berth ] &&
    [ -d /var/lib/berth ] && [ "$(stat -c %U /var/lib/berth)" = berth ]
}
step systemctl-start-serves serves
# berth doctor as the unit's user, inside a copy of the unit.
doctor() {
  sed -e 's|^ExecStart=.*|ExecStart=/usr/bin/berth doctor|' -e 's|^Type=simple|Type=oneshot|' -e '/^Restart=/d' \
    -e "/^\[Service\]/a StandardOutput=file:$out/doctor.txt" /usr/lib/systemd/system/berth.service >/etc/systemd/system/berth-doctor.service
  systemctl daemon-reload
  systemctl start berth-doctor.service
  cat "$out/doctor.txt"
  grep -q '^ok    sandbox in use' "$out/doctor.txt"
}
step doctor-in-the-unit doctor
removed() {
  ! systemctl is-active berth.service && [ ! -e /usr/lib/systemd/system/berth.service ] && [ ! -e /usr/bin/berth ] &&
    ! systemctl is-enabled berth.service
}
purged() { dpkg --purge berth && removed && [ ! -e /var/lib/berth ]; }
# rpm has no purge: /var/lib/berth and the user stay (dist/rpm/postun).
erased() { rpm -e berth && removed && ! rpm -q berth; }
if [ "$kind" = rpm ]; then step rpm-erase erased; else step dpkg-purge purged; fi
echo "$status" >"$out/status"
sync
# The unit's ExecStopPost powers the container off.
