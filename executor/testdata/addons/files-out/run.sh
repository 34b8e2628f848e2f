#!/bin/sh
# The user input names the file the output refers to; text.txt exists,
# link-out is a link to a host file. OUTPUT_DIR/x stands for the absolute
# path of x in OUTPUT_DIR as this addon sees it.
echo "extracted" > "$OUTPUT_DIR/text.txt"
ln -s /etc/passwd "$OUTPUT_DIR/link-out"
name=$(cat "$1")
case $name in OUTPUT_DIR/*) name="$OUTPUT_DIR/${name#OUTPUT_DIR/}";; esac
printf '{"files":[{"itemId":"item1","textFiles":{"att1":"%s"}}]}\n' "$name"
