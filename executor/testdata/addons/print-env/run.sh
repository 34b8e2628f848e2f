#!/bin/sh
# Writes its environment to OUTPUT_DIR for the test to read.
env > "$OUTPUT_DIR/env"
