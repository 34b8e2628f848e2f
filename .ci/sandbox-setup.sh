#!/usr/bin/env bash
# Prepares what the sandbox and nix-flake tests need (idempotent):
#   - a tmpfs at /run/systemd/nspawn, without which systemd-nspawn refuses
#     to run where systemd is not PID 1 and /run is not a tmpfs;
#   - a nix.conf that builds without nix's own sandbox (test flakes use
#     /bin/sh as builder, which nix's build sandbox does not provide);
#   - nix's build users (group nixbld, users nixbld1..10), as Debian's
#     nix-setup-systemd creates them;
#   - user namespaces for the builtin sandbox (only reported: root needs
#     no sysctl, and CI runs as root);
#   - a JDK and python3 for the conformance suite's addons;
#   - the users berth-sudo-test, allowed passwordless sudo for
#     systemd-nspawn only (with SETENV), and berth-sudo-nosetenv-test
#     (without): a non-root berth with nspawn.sudo (cmd/berth's
#     TestAKilledBerthLeavesNoAddonBehind, TestNspawnSudo...).
# Needs the packages systemd-container, nix-bin and bash (installed by .ci/run).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

# 1. systemd-nspawn outside systemd.
if [ -d /run/systemd/system ]; then
  echo "sandbox-setup: systemd is PID 1, nspawn needs no extra mount"
else
  mkdir -p /run/systemd/nspawn
  if [ "$(stat -f -c %T /run/systemd/nspawn)" != "tmpfs" ]; then
    mount -t tmpfs tmpfs /run/systemd/nspawn
    echo "sandbox-setup: mounted a tmpfs on /run/systemd/nspawn"
  else
    echo "sandbox-setup: /run/systemd/nspawn is already a tmpfs"
  fi
fi

# 2. nix: no build sandbox (Debian's nix-bin already says so; keep it so).
mkdir -p /etc/nix
touch /etc/nix/nix.conf
if ! grep -Eq '^[[:space:]]*sandbox[[:space:]]*=' /etc/nix/nix.conf; then
  echo 'sandbox = false' >> /etc/nix/nix.conf
  echo "sandbox-setup: set sandbox = false in /etc/nix/nix.conf"
fi
# nix as root builds as the members of build-users-group (default nixbld).
# Debian's nix-bin creates no such group; its nix-setup-systemd package does,
# in its postinst (groupadd --system nixbld; useradd --system nixbld1..10),
# but it pulls in libpam-systemd and a nix-daemon unit this machine cannot
# start. Create the same group and users here (docs/sandbox.md, "nix").
group=$(nix --extra-experimental-features nix-command show-config 2>/dev/null | sed -n 's/^build-users-group = //p' || true)
if [ -n "$group" ] && ! getent group "$group" >/dev/null; then
  groupadd --force --system "$group"
  for n in $(seq 1 10); do
    id "$group$n" >/dev/null 2>&1 || useradd --system --comment "Nix build user $n" \
      --home-dir /var/empty --gid "$group" --groups "$group" --no-user-group \
      --shell "$(command -v nologin || echo /usr/sbin/nologin)" "$group$n"
  done
  echo "sandbox-setup: created nix build group $group and users ${group}1..10"
fi
if command -v nix >/dev/null; then
  echo "sandbox-setup: $(nix --version)"
else
  echo "sandbox-setup: WARNING: nix is not installed (apt-get install nix-bin)" >&2
fi

# 3. user namespaces and cgroups, for the builtin sandbox.
if [ "$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || echo 1)" = "0" ]; then
  sysctl -w user.max_user_namespaces=15000
fi
if [ -f /proc/sys/kernel/unprivileged_userns_clone ] && [ "$(cat /proc/sys/kernel/unprivileged_userns_clone)" = "0" ]; then
  echo "sandbox-setup: note: unprivileged user namespaces are off (root is not affected)"
fi
if grep -qw memory /proc/self/cgroup /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
  echo "sandbox-setup: memory cgroup controller found"
else
  echo "sandbox-setup: WARNING: no memory cgroup controller: the OOM and fork-bomb tests will fail" >&2
fi
command -v bash >/dev/null || { echo "sandbox-setup: bash is needed by the hostile fixtures" >&2; exit 1; }

# 4. runtimes for the conformance suite's addons in the default sandbox
#    (conformance/: a JVM addon through the JDK's source launcher, a
#    Python addon).
runtimes=()
command -v javac >/dev/null || runtimes+=(default-jdk-headless)
command -v python3 >/dev/null || runtimes+=(python3)
if [ ${#runtimes[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${runtimes[@]}" >/dev/null
  echo "sandbox-setup: installed ${runtimes[*]}"
fi

# 5. A non-root berth that runs nspawn through sudo (nspawn.sudo), as the
#    docs tell admins to set it up: one sudoers rule, nspawn only, SETENV
#    so that the addon's configured variables pass; and a user whose rule
#    lacks SETENV, for berth's error about it.
command -v sudo >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends sudo >/dev/null
nspawn=$(command -v systemd-nspawn)
for u in berth-sudo-test:NOPASSWD:SETENV: berth-sudo-nosetenv-test:NOPASSWD:; do
  name=${u%%:*} tags=${u#*:}
  id "$name" >/dev/null 2>&1 || useradd --system --create-home --home-dir "/var/lib/$name" --shell /bin/sh "$name"
  rule=/etc/sudoers.d/$name
  echo "$name ALL=(root) $tags $nspawn" >"$rule.new"
  chmod 0440 "$rule.new"
  visudo -cqf "$rule.new" && mv "$rule.new" "$rule"
done
echo "sandbox-setup: berth-sudo-test (and berth-sudo-nosetenv-test, without SETENV) may run $nspawn through sudo"

# 6. A non-root berth in the docker group, as the packaged service user
#    is when it runs docker addons (cmd/berth/dockeruser_test.go: what
#    the image's root leaves in the run's directories is handed back).
if getent group docker >/dev/null; then
  id berth-docker-test >/dev/null 2>&1 || useradd --system --create-home --home-dir /var/lib/berth-docker-test --shell /bin/sh berth-docker-test
  usermod -aG docker berth-docker-test
  echo "sandbox-setup: berth-docker-test is in the docker group"
fi
