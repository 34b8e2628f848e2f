#!/bin/sh
BERTH_DAEMON_TOKEN=$(cat "$1")
export BERTH_DAEMON_TOKEN
( setsid sh -c 'trap "" TERM HUP; echo started > "$OUTPUT_DIR/daemon"; exec sleep 300' </dev/null >/dev/null 2>&1 & )
while [ ! -s "$OUTPUT_DIR/daemon" ]; do sleep 0.05; done
exit 0
