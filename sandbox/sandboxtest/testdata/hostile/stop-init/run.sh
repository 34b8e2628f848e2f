#!/bin/sh
"$(dirname "$0")/ptracestop" > "$OUTPUT_DIR/attach" 2>&1 &
sleep 2
echo done > "$OUTPUT_DIR/ran"
exit 0
