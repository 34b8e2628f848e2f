#!/bin/bash
# bash retries a failed fork with back-off instead of giving up, so the
# bomb stays at whatever limit it meets until the run's timeout.
touch "$OUTPUT_DIR/started"
bomb() { while :; do bomb & done; }
bomb 2>/dev/null
