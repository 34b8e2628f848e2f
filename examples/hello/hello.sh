#!/bin/sh
# Arguments: --greeting, then the path of the user-input file.
set -eu
[ "$1" = "--greeting" ] || { echo "unexpected first argument: $1" >&2; exit 2; }
input=$(cat "$2")
[ -n "$input" ] || input="Hello"
echo "hello: greeting is '$input'" >&2

printf '%s\n' "$input" > "$OUTPUT_DIR/greeting.txt"

# json_string prints $1 as the inside of a JSON string: backslashes,
# quotes, tabs and newlines escaped, other control characters dropped.
json_string() {
  printf '%s' "$1" | tr -d '\000-\010\013-\037' |
    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/	/\\t/g' |
    awk 'NR > 1 { printf "\\n" } { printf "%s", $0 }'
}

item=""
if [ -n "${ITEM_DATA_JSON:-}" ] && [ -f "$ITEM_DATA_JSON" ]; then
  item=$(sed -n 's/.*"id"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$ITEM_DATA_JSON" | head -n 1)
fi
if [ -n "$item" ]; then
  printf '{"commands":[{"command":"item-update","itemId":"%s","actions":[{"action":"add-tags","tags":["greeted"]},{"action":"add-notes","notes":"%s"}]}]}\n' "$item" "$(json_string "$input")"
else
  printf '{"commands":[],"files":[],"newItems":[]}\n'
fi
