#!/bin/sh
pid=$(cat "$1")
if [ -e "/proc/$pid" ]; then echo visible > "$OUTPUT_DIR/report"; else echo invisible > "$OUTPUT_DIR/report"; fi
if kill -KILL "$pid" 2>/dev/null; then echo killed >> "$OUTPUT_DIR/report"; else echo kill-failed >> "$OUTPUT_DIR/report"; fi
ls /proc | grep -c '^[0-9]' > "$OUTPUT_DIR/process-count"
exit 0
