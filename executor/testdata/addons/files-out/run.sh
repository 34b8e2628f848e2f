#!/bin/sh
# The user input names the file the output refers to; text.txt exists.
echo "extracted" > "$OUTPUT_DIR/text.txt"
name=$(cat "$1")
printf '{"files":[{"itemId":"item1","textFiles":{"att1":"%s"}}]}\n' "$name"
