#!/bin/sh
input=$(cat "$1")
echo "tagging with $input" >&2
ls "$ITEM_ORIGINAL_DIR" 2>/dev/null | sed 's/^/original: /' >&2
if grep -q slow "$ITEM_DATA_JSON" 2>/dev/null; then
  echo "a slow item: sleeping" >&2
  sleep 120
fi
tag=$(printf '%s' "$input" | tr a-z A-Z)
echo "done" >&2
printf '{"commands":[{"command":"item-update","itemId":"item-1","actions":[{"action":"add-tags","tags":["%s"]},{"action":"set-field","field":"checked","value":"yes"}]}]}\n' "$tag"
