#!/usr/bin/env bash
# Builds (once, cached) the Debian 12 VM the VM job boots: a debootstrap
# minbase root with systemd as init, the Debian kernel (linux-image-amd64)
# and systemd-nspawn, as an ext4 image made without loop devices
# (mke2fs -d), plus the kernel and initrd to boot it directly.
# Usage: .ci/vm/image.sh CACHE_DIR   (prints nothing when the cache holds it)
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
cache=${1:?usage: image.sh CACHE_DIR}
version=3 # bump when the image's recipe changes
[ -f "$cache/image-v$version.done" ] && exit 0
mkdir -p "$cache"
root=$cache/root
rm -rf "$root" "$cache"/image-v*.done
mirror=${BERTH_VM_MIRROR:-http://deb.debian.org/debian}
echo "vm image: debootstrap bookworm from $mirror"
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,udev,dbus,kmod,linux-image-amd64,systemd-container,util-linux,procps,iproute2,bash,coreutils,mawk,findutils \
  bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 || { tail -30 "$cache/debootstrap.log"; exit 1; }

# The VM mounts its root from virtio disk and the job from 9p shares.
cat >"$root/etc/fstab" <<'FSTAB'
/dev/vda / ext4 rw,errors=remount-ro 0 1
job /job 9p trans=virtio,version=9p2000.L,msize=524288,nofail 0 0
src /src 9p trans=virtio,version=9p2000.L,msize=524288,ro,nofail 0 0
FSTAB
mkdir -p "$root/job" "$root/src"
printf '%s\n' virtio_pci virtio_blk ext4 9p 9pnet_virtio >>"$root/etc/initramfs-tools/modules"
echo berth-vm >"$root/etc/hostname"
chroot "$root" passwd -d root >/dev/null
# The job: run .ci/vm/in-vm.sh from the share, then power off whatever
# its outcome.
cat >"$root/etc/systemd/system/berth-vm-job.service" <<'UNIT'
[Unit]
Description=berth VM job
After=multi-user.target job.mount src.mount
RequiresMountsFor=/job /src

[Service]
Type=oneshot
ExecStart=/bin/bash /job/in-vm.sh
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Install]
WantedBy=multi-user.target
UNIT
chroot "$root" systemctl enable berth-vm-job.service >/dev/null 2>&1
chroot "$root" systemctl mask getty@tty1.service serial-getty@ttyS0.service systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1 || true
unshare --mount --propagation private sh -c "mount -t proc proc \"$root/proc\" && chroot \"$root\" update-initramfs -u" >/dev/null 2>&1
cp "$root"/boot/vmlinuz-* "$cache/vmlinuz"
cp "$root"/boot/initrd.img-* "$cache/initrd.img"
rm -f "$cache/bookworm.img"
mke2fs -q -t ext4 -L berthvm -d "$root" "$cache/bookworm.img" 3G
rm -rf "$root"
touch "$cache/image-v$version.done"
echo "vm image: $cache/bookworm.img"
