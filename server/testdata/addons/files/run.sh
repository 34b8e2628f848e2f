#!/bin/sh
set -e
input=$(cat "$1")
mkdir -p "$OUTPUT_DIR/sub"
printf '%s\n' "$input" > "$OUTPUT_DIR/sub/greeting.txt"
yes "$input" | head -c 2621440 > "$OUTPUT_DIR/big.bin"
echo '{}'
