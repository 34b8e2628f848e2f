#!/bin/bash
# A pure addon must not reach the network, not even the host's loopback.
port=$(cat "$1")
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo connected > "$OUTPUT_DIR/report"
else
  echo blocked > "$OUTPUT_DIR/report"
fi
