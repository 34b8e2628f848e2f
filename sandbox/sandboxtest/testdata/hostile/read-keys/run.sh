#!/bin/sh
out="$OUTPUT_DIR"
cat /proc/keys > "$out/keys" 2>/dev/null
cat /proc/key-users > "$out/key-users" 2>/dev/null
# A mask that can be taken off, or a /proc of one's own, is no mask.
umount /proc/keys 2>/dev/null && cat /proc/keys >> "$out/keys" 2>/dev/null
mkdir -p /tmp/proc-again 2>/dev/null && mount -t proc proc /tmp/proc-again 2>/dev/null && cat /tmp/proc-again/keys >> "$out/keys" 2>/dev/null
# Where that mount worked (the control run, unsandboxed, as root) it is
# on the host: take it away again.
umount /tmp/proc-again 2>/dev/null
echo done > "$out/ran"
exit 0
