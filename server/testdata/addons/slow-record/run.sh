#!/bin/sh
set -e
set -- $(cat "$1")
echo "$$" >> "$1"
sleep "$2"
echo "slept $2" > "$OUTPUT_DIR/done.txt"
echo '{}'
