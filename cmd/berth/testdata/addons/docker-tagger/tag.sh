#!/bin/sh
# Runs in a container: the contract paths are under /mnt.
[ "$1" = "--tag" ] || exit 7
[ "$(pwd)" = /mnt/work ] || { echo "cwd is $(pwd)" >&2; exit 8; }
input=$(cat "$2")
echo "$input" > "$OUTPUT_DIR/seen.txt"
printf '{"commands":[{"command":"item-update","itemId":"x1","actions":[{"action":"add-tags","tags":["%s"]}]}]}\n' "$input"
