#!/bin/sh
BERTH_DAEMON_TOKEN=$(cat "$1")
export BERTH_DAEMON_TOKEN
sleep 300 &
(trap '' TERM; exec sleep 300) &
( setsid sh -c 'trap "" TERM HUP; exec sleep 300' </dev/null >/dev/null 2>&1 & )
trap '' TERM
touch "$OUTPUT_DIR/started"
wait
