#!/bin/sh
# The user input holds: a host directory, then a token for file names.
hostdir=$(sed -n 1p "$1")
token=$(sed -n 2p "$1")
for target in "$hostdir/pwned-$token" "/tmp/pwned-$token" "/pwned-$token" "/usr/pwned-$token" \
    "/etc/pwned-$token" "/mnt/pwned-$token" "/var/tmp/pwned-$token" "/dev/shm/pwned-$token"; do
  if echo pwned > "$target" 2>/dev/null; then
    echo "wrote $target" >> "$OUTPUT_DIR/report"
  else
    echo "refused $target" >> "$OUTPUT_DIR/report"
  fi
done
# Legitimate writes still work.
echo ok > "$OUTPUT_DIR/legit" && echo ok > "$CACHE_DIR/legit" && echo ok > "$TMPDIR/legit" && echo legit-ok >> "$OUTPUT_DIR/report"
exit 0
