#!/usr/bin/env bash
# An ordinary shell addon: HOME, USER, CA certificates, /etc readable;
# host secrets are not.
set -u
mkdir -p "$HOME/.config/shell-addon" && echo ok > "$HOME/.config/shell-addon/state" && home=ok || home=broken
user="${USER:-unset}/${LOGNAME:-unset}"
certs=missing; [ -r /etc/ssl/certs/ca-certificates.crt ] && certs=ok
secrets=hidden
# berth covers them with an empty file or directory: nothing to read.
for f in /etc/shadow /etc/gshadow /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_rsa_key; do
  if [ -s "$f" ] || cat "$f" 2>/dev/null | grep -q .; then secrets="visible:$f"; fi
done
for d in /etc/ssh /etc/ssl/private; do
  if [ -n "$(ls -A "$d" 2>/dev/null)" ]; then secrets="visible:$d"; fi
done
echo "home=$home user=$user certs=$certs secrets=$secrets" >&2
printf '{"commands":[{"command":"item-update","itemId":"item1","actions":[{"action":"add-tags","tags":["home-%s","user-%s","certs-%s","secrets-%s"]}]}]}\n' \
  "$home" "${user//\//-}" "$certs" "${secrets//\//_}"
