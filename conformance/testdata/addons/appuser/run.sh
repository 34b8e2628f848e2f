# Tags the item with the user it runs as, and whether HOME, TMPDIR and
# OUTPUT_DIR are writable for it.
w() { mkdir -p "$1" 2>/dev/null && echo x >"$1/probe" 2>/dev/null && echo "$2-ok" || echo "$2-not-writable"; }
tags="\"$(id -un)\",\"$(w "$HOME/.cache/app" home)\",\"$(w "$TMPDIR" tmpdir)\",\"$(w "$OUTPUT_DIR" output)\""
echo "{\"commands\":[{\"command\":\"item-update\",\"itemId\":\"i1\",\"actions\":[{\"action\":\"add-tags\",\"tags\":[$tags]}]}]}"
