#!/bin/sh
# Writes a file in a sub-directory of OUTPUT_DIR.
mkdir -p "$OUTPUT_DIR/sub" && echo "second" > "$OUTPUT_DIR/sub/b.txt"
