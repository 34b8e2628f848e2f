#!/bin/sh
# Argument: the path of the user-input file.
set -eu
input=$(cat "$1")
[ -n "$input" ] || input="Hello from nix"
echo "nix-hello: greeting is '$input', running from $0" >&2

printf '%s\n' "$input" > "$OUTPUT_DIR/greeting.txt"

item=""
if [ -n "${ITEM_DATA_JSON:-}" ] && [ -f "$ITEM_DATA_JSON" ]; then
  item=$(sed -n 's/.*"id"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$ITEM_DATA_JSON" | head -n 1)
fi
if [ -n "$item" ]; then
  printf '{"commands":[{"command":"item-update","itemId":"%s","actions":[{"action":"add-tags","tags":["nix-greeted"]}]}]}\n' "$item"
else
  printf '{"commands":[],"files":[],"newItems":[]}\n'
fi
