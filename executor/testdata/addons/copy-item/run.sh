#!/bin/sh
# Copies the item directory joex-style input into OUTPUT_DIR for the test to read.
cp -R "$ITEM_DIR" "$OUTPUT_DIR/item"
