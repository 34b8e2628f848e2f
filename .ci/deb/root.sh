#!/usr/bin/env bash
# Builds (once, cached) the fresh Debian 12 root the .deb is installed
# into: a debootstrap minbase with systemd as init, curl and rpm (for
# the .rpm), nothing of berth's. The job copies it for each run and
# keeps this one pristine.
# Usage: .ci/deb/root.sh CACHE_DIR   (prints nothing when the cache holds it)
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
cache=${1:?usage: root.sh CACHE_DIR}
version=2 # bump when the recipe changes
[ -f "$cache/root-v$version.done" ] && exit 0
mkdir -p "$cache"
rm -rf "$cache/root" "$cache"/root-v*.done
mirror=${BERTH_DEB_MIRROR:-http://deb.debian.org/debian}
echo "deb root: debootstrap bookworm from $mirror"
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,curl,ca-certificates,rpm \
  bookworm "$cache/root" "$mirror" >"$cache/debootstrap.log" 2>&1 || { tail -30 "$cache/debootstrap.log"; exit 1; }
# No login prompts, timers or network setup in a throw-away boot.
chroot "$cache/root" systemctl mask console-getty.service getty@tty1.service systemd-timesyncd.service \
  apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true
echo berth-deb >"$cache/root/etc/hostname"
touch "$cache/root-v$version.done"
echo "deb root: $cache/root ($(du -sh "$cache/root" | cut -f1))"
