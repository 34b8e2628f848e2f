#!/bin/bash
# Prepares a machine for the tests of engine/, service/ and cmd/berth's
# services commands. Idempotent: run it as often as you like (as root).
#
#   - installs docker.io, podman, docker-registry, apache2-utils,
#     busybox-static and systemd (systemd-analyze) when missing
#   - starts dockerd when it does not answer
#   - podman: /etc/containers/containers.conf with default_ulimits = []
#     (root here lacks CAP_SYS_RESOURCE), 127.0.0.1:5000 as an insecure
#     registry; tests select runc with BERTH_PODMAN_RUNTIME (default runc)
#   - a docker-registry on 127.0.0.1:5000 with htpasswd auth
#     (user berth, password berth-test-password: test-only credentials)
#   - the base test image berth-test/busybox:1 in docker and podman
set -euo pipefail

REG_DIR=/var/lib/berth-test-registry
REG_ADDR=127.0.0.1:5000
REG_USER=berth
REG_PASSWORD=berth-test-password
IMAGE=${BERTH_TEST_IMAGE:-berth-test/busybox:1}

log() { echo "services-setup: $*" >&2; }

need=()
command -v docker >/dev/null || need+=(docker.io)
command -v podman >/dev/null || need+=(podman)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v htpasswd >/dev/null || need+=(apache2-utils)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v systemd-analyze >/dev/null || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi

# dockerd
if ! docker info >/dev/null 2>&1; then
	if ! pgrep -x dockerd >/dev/null; then
		log "starting dockerd"
		(setsid dockerd >/var/log/dockerd.log 2>&1 &)
	fi
	for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
	docker info >/dev/null 2>&1 || { log "dockerd did not come up; see /var/log/dockerd.log"; exit 1; }
fi

# podman settings
mkdir -p /etc/containers /etc/containers/registries.conf.d
if ! grep -qs '^ *default_ulimits *= *\[\]' /etc/containers/containers.conf; then
	if [ -s /etc/containers/containers.conf ]; then
		mkdir -p /etc/containers/containers.conf.d
		printf '[containers]\ndefault_ulimits = []\n' >/etc/containers/containers.conf.d/50-berth-ulimits.conf
	else
		printf '[containers]\ndefault_ulimits = []\n' >/etc/containers/containers.conf
	fi
fi
cat >/etc/containers/registries.conf.d/50-berth-test-registry.conf <<CONF
[[registry]]
location = "$REG_ADDR"
insecure = true
CONF

# registry with htpasswd auth
registry_up() { (exec 3<>/dev/tcp/127.0.0.1/5000) 2>/dev/null; }
mkdir -p "$REG_DIR/data"
if [ ! -s "$REG_DIR/htpasswd" ]; then
	htpasswd -Bbn "$REG_USER" "$REG_PASSWORD" >"$REG_DIR/htpasswd"
fi
cat >"$REG_DIR/config.yml" <<CONF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REG_DIR/data
  delete:
    enabled: true
http:
  addr: $REG_ADDR
auth:
  htpasswd:
    realm: berth-test
    path: $REG_DIR/htpasswd
CONF
if ! registry_up; then
	log "starting docker-registry on $REG_ADDR"
	(setsid docker-registry serve "$REG_DIR/config.yml" >/var/log/berth-test-registry.log 2>&1 &)
	for _ in $(seq 1 30); do registry_up && break; sleep 0.5; done
	registry_up || { log "registry did not come up; see /var/log/berth-test-registry.log"; exit 1; }
fi

# base test image (same recipe as engine/enginetest.BusyboxRootfs)
rootfs=""
for engine in docker podman; do
	args=()
	[ "$engine" = podman ] && args=(--runtime "${BERTH_PODMAN_RUNTIME:-runc}")
	if ! "$engine" "${args[@]}" image inspect "$IMAGE" >/dev/null 2>&1; then
		if [ -z "$rootfs" ]; then
			rootfs=$(mktemp -d)
			mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/var/www" "$rootfs/root"
			chmod 1777 "$rootfs/tmp"
			cp /bin/busybox "$rootfs/bin/busybox"
			for applet in $(/bin/busybox --list); do
				[ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
			done
			printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
			printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
		fi
		log "importing $IMAGE into $engine"
		tar -C "$rootfs" -c . | "$engine" "${args[@]}" import - "$IMAGE" >/dev/null
	fi
done
[ -n "$rootfs" ] && rm -rf "$rootfs"
log "ready: docker, podman, registry $REG_ADDR (user $REG_USER), $IMAGE"
