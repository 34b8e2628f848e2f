#!/bin/sh
# What docspell/rotate-pdf-addon's src/addon.scm (commit 6be44ab) does
# with the environment and files, qpdf and pdftotext left out:
#   :36-38    reads OUTPUT_DIR, ITEM_DATA_JSON and ITEM_PDF_DIR
#   :41-43    fails when ITEM_DATA_JSON is not set
#   :71-72    reads the user input, its first argument, as {"degree": "90"}
#   :93-100   takes the item id and the attachments of ITEM_DATA_JSON
#   :84-88    rotates ITEM_PDF_DIR/<attachment id> (a path relative to the
#             working directory) into OUTPUT_DIR/<id>.pdf, its text into
#             OUTPUT_DIR/<id>.txt
#   :89-91    names them relative to OUTPUT_DIR in the output's files
#   :105      prints the output
# JSON is read with sed: enough for the compact JSON the test gives.
set -e
if [ -z "$ITEM_DATA_JSON" ]; then
	echo "No item data json file found." >&2
	exit 1
fi
degree=$(tr -d '\n' <"$1" | sed -n 's/.*"degree" *: *"\{0,1\}\([0-9+-]*\).*/\1/p')
item=$(tr -d '\n' <"$ITEM_DATA_JSON")
item_id=$(echo "$item" | sed -n 's/^ *{ *"id" *: *"\([^"]*\)".*/\1/p')
ids=$(echo "$item" | sed 's/.*"attachments" *: *\[//' | grep -o '"id" *: *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/')
files=
for id in $ids; do
	echo "Processing attachment $id" >&2
	in="$ITEM_PDF_DIR/$id"
	{ cat "$in"; echo "% rotated $degree"; } >"$OUTPUT_DIR/$id.pdf"
	echo "text of $id, rotated by $degree" >"$OUTPUT_DIR/$id.txt"
	files="$files${files:+,}{\"itemId\":\"$item_id\",\"textFiles\":{\"$id\":\"$id.txt\"},\"pdfFiles\":{\"$id\":\"$id.pdf\"}}"
done
printf '{"files":[%s]}' "$files"
