#!/bin/sh
for last; do :; done
printf '%s\n' "$last" > "$OUTPUT_DIR/input-arg"
cat "$last" > "$OUTPUT_DIR/input" 2>&1
printf '%s\n' "${XDG_RUNTIME_DIR-unset}" > "$OUTPUT_DIR/xdg"
