#!/bin/sh
secret=$(cat "$1")
cat "$secret" > "$OUTPUT_DIR/secret" 2>"$OUTPUT_DIR/secret.err"
cat /etc/shadow > "$OUTPUT_DIR/shadow" 2>"$OUTPUT_DIR/shadow.err"
ls / > "$OUTPUT_DIR/root-listing"
exit 0
