#!/bin/sh
# What docspell/swiss-qr-addon's addon module (commit 175bbfb,
# modules/addon/src/main/scala/docspell/swissqr/addon/) does with the
# environment and files, the QR reader left out (a file "has a QR code"
# when a line of it starts with SPC, the Swiss QR payload's header):
#   Main.scala:15-17       reads its config from the first argument, the
#                          user input; Config.scala:39-41: empty is the default
#   AddonEnv.scala:162-171 needs ITEM_DATA_JSON, ITEM_PDF_JSON,
#                          ITEM_ORIGINAL_JSON, TMP_DIR, ITEM_PDF_DIR and
#                          ITEM_ORIGINAL_DIR (sys.env throws without one)
#   ItemMetadata.scala:6-11, FileProperties.scala:6: the item needs id,
#                          name, tags and assumedTags; every file entry id,
#                          a string name and mimetype (circe fails on null)
#   Main.scala:38-41       runs only when check-tags meets the item's tags
#                          or assumedTags
#   Main.scala:49-59       for each entry of ITEM_PDF_JSON reads
#                          ITEM_ORIGINAL_DIR/<id>, else ITEM_PDF_DIR/<id>
#   Main.scala:113-127     by the mimetype of the entry with that id in the
#                          matching list: */pdf or image/*, others skipped
#   Main.scala:26-31,89-102 prints add-notes (and add-tags from add-tags)
#                          when a QR code was found, else no commands
set -e
for v in ITEM_DATA_JSON ITEM_PDF_JSON ITEM_ORIGINAL_JSON TMP_DIR ITEM_PDF_DIR ITEM_ORIGINAL_DIR; do
	eval "val=\${$v-}"
	if [ -z "$val" ]; then
		echo "java.util.NoSuchElementException: key not found: $v" >&2
		exit 1
	fi
done
echo "Reading environment data" >&2
item=$(tr -d '\n' <"$ITEM_DATA_JSON")
for k in id name tags assumedTags; do
	echo "$item" | grep -q "\"$k\" *:" || { echo "DecodingFailure: Missing required field $k" >&2; exit 1; }
done
item_id=$(echo "$item" | sed -n 's/^ *{ *"id" *: *"\([^"]*\)".*/\1/p')
# The config: block lists under add-tags and check-tags.
list() { [ -f "$1" ] && awk -v key="$2:" '/^[^ -]/ {sec=$1} sec==key && /^ *- / {sub(/^ *- */, ""); print}' "$1"; }
add_tags=$(list "$1" add-tags)
check_tags=$(list "$1" check-tags)
if [ -n "$check_tags" ]; then
	given=$(echo "$item" | sed 's/.*"tags" *: *\[\([^]]*\)\].*"assumedTags" *: *\[\([^]]*\)\].*/\1,\2/' | tr -d '"' | tr ',' '\n')
	match=
	for t in $check_tags; do
		echo "$given" | grep -qx "$t" && match=1
	done
	if [ -z "$match" ]; then
		echo "Done" >&2
		echo '{"commands":[]}'
		exit 0
	fi
fi
entries() { tr -d '\n' <"$1" | sed 's/^\[//; s/\]$//; s/},{/}\n{/g'; }
field() { echo "$2" | sed -n "s/.*\"$1\" *: *\"\([^\"]*\)\".*/\1/p"; }
for f in "$ITEM_PDF_JSON" "$ITEM_ORIGINAL_JSON"; do
	if entries "$f" | grep -q '"name":null'; then
		echo "DecodingFailure at [0].name: String" >&2
		exit 1
	fi
done
kind() { # list id
	m=$(entries "$1" | grep "\"id\":\"$2\"" | { read -r e || true; field mimetype "$e"; })
	case "$m" in */pdf) echo pdf ;; image/*) echo image ;; esac
}
notes=
for id in $(entries "$ITEM_PDF_JSON" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p'); do
	file=
	if [ -f "$ITEM_ORIGINAL_DIR/$id" ] && [ -n "$(kind "$ITEM_ORIGINAL_JSON" "$id")" ]; then
		file="$ITEM_ORIGINAL_DIR/$id"
	elif [ -f "$ITEM_PDF_DIR/$id" ] && [ -n "$(kind "$ITEM_PDF_JSON" "$id")" ]; then
		file="$ITEM_PDF_DIR/$id"
	fi
	[ -n "$file" ] || continue
	if grep -aq '^SPC' "$file"; then
		notes="$notes${notes:+\\n\\n}QR code in $file"
	fi
done
echo "Done" >&2
if [ -z "$notes" ]; then
	echo '{"commands":[]}'
	exit 0
fi
actions="{\"notes\":\"$notes\",\"separator\":\"----\",\"action\":\"add-notes\"}"
if [ -n "$add_tags" ]; then
	tags=$(echo "$add_tags" | sed 's/.*/"&"/' | tr "\n" , | sed "s/,$//")
	actions="$actions,{\"tags\":[$tags],\"action\":\"add-tags\"}"
fi
printf "%s\n" "{\"commands\":[{\"itemId\":\"$item_id\",\"actions\":[$actions],\"command\":\"item-update\"}]}"
