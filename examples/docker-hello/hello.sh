#!/bin/sh
# Arguments: --greeting, then the path of the user-input file (relative to
# the working directory /mnt/work, as Docspell's docker runner passes it).
set -eu
[ "$1" = "--greeting" ] || { echo "unexpected first argument: $1" >&2; exit 2; }
input=$(cat "$2")
[ -n "$input" ] || input="Hello"
echo "docker-hello: greeting is '$input' (uid $(id -u))" >&2

printf '%s\n' "$input" > "$OUTPUT_DIR/greeting.txt"

item=""
if [ -n "${ITEM_DATA_JSON:-}" ] && [ -f "$ITEM_DATA_JSON" ]; then
  item=$(sed -n 's/.*"id"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$ITEM_DATA_JSON" | head -n 1)
fi
if [ -n "$item" ]; then
  printf '{"commands":[{"command":"item-update","itemId":"%s","actions":[{"action":"add-tags","tags":["greeted-from-a-container"]}]}]}\n' "$item"
else
  printf '{"commands":[],"files":[],"newItems":[]}\n'
fi
