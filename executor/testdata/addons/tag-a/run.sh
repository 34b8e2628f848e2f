#!/bin/sh
touch "$CACHE_DIR/from-a" temp/from-a; echo "first" > "$OUTPUT_DIR/a.txt"; echo "{\"commands\":[{\"command\":\"item-update\",\"itemId\":\"item1\",\"actions\":[{\"action\":\"add-tags\",\"tags\":[\"a\"]}]}]}"
