#!/bin/sh
if [ -f "$CACHE_DIR/seen" ]; then echo '{}'; exit 0; fi
touch "$CACHE_DIR/seen"
echo "flaky: first attempt fails" >&2
exit 1
