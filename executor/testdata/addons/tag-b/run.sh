#!/bin/sh
test -f "$OUTPUT_DIR/a.txt" || { echo "a.txt from tag-a is missing: OUTPUT_DIR is not shared" >&2; exit 9; }; test -f "$CACHE_DIR/from-a" || { echo "cache not shared" >&2; exit 9; }; test -f temp/from-a || { echo "WORK not shared" >&2; exit 9; }; echo "{\"commands\":[{\"command\":\"item-update\",\"itemId\":\"item1\",\"actions\":[{\"action\":\"add-tags\",\"tags\":[\"b\"]}]}]}"
