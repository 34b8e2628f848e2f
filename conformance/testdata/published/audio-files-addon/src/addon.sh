#!/bin/sh
# What docspell/audio-files-addon's src/addon.scm (commit 6011158) does
# with the environment and files, the media tools left out:
#   :44-50    reads OUTPUT_DIR, TMP_DIR, CACHE_DIR, ITEM_DATA_JSON,
#             ITEM_ORIGINAL_JSON and ITEM_ORIGINAL_DIR
#   :53-55    fails when ITEM_DATA_JSON is not set
#   :83-89    takes the item id and the list of ITEM_ORIGINAL_JSON
#   :100-106  keeps the originals whose mimetype starts with "audio/"
#   :108-117  converts ITEM_ORIGINAL_DIR/<id> to TMP_DIR/in.wav (ffmpeg;
#             here a copy)
#   :122-127  uses CACHE_DIR/model_<language>.pbmm, language "eng" when
#             none is given; guile-json reads JSON null as the symbol
#             null, which (or language "eng") keeps, and :131-134 then
#             fails on it (string= on a symbol): so does this script
#   :129-137  downloads the model only when it is missing (curl; here
#             written, the test machine is offline)
#   :139-144  writes the text to OUTPUT_DIR/<id>.txt (stt)
#   :149-168  makes OUTPUT_DIR/<id>.pdf via TMP_DIR/text.html (wkhtmltopdf)
#   :173-196  prints files with textFiles and pdfFiles relative to OUTPUT_DIR
set -e
if [ -z "$ITEM_DATA_JSON" ]; then
	echo "No item data json file found." >&2
	exit 1
fi
item_id=$(tr -d '\n' <"$ITEM_DATA_JSON" | sed -n 's/^ *{ *"id" *: *"\([^"]*\)".*/\1/p')
field() { echo "$2" | sed -n "s/.*\"$1\" *: *\"\([^\"]*\)\".*/\1/p"; }
files=
# One object of the list per line.
for obj in $(tr -d '\n ' <"$ITEM_ORIGINAL_JSON" | sed 's/^\[//; s/\]$//; s/},{/}\n{/g'); do
	mime=$(field mimetype "$obj")
	case "$mime" in audio/*) ;; *) continue ;; esac
	id=$(field id "$obj")
	lang=$(field language "$obj")
	if [ -z "$lang" ]; then
		if echo "$obj" | grep -q '"language":null'; then
			echo "In procedure string=: Wrong type argument in position 1 (expecting string): null" >&2
			exit 1
		fi
		lang=eng
	fi
	echo "Running ffmpeg to convert wav file..." >&2
	cp "$ITEM_ORIGINAL_DIR/$id" "$TMP_DIR/in.wav"
	model="$CACHE_DIR/model_$lang.pbmm"
	if [ ! -f "$model" ]; then
		echo "Downloading model file for language: $lang" >&2
		echo "model for $lang" >"$model"
	fi
	echo "Extracting text from audio..." >&2
	echo "$(wc -c <"$TMP_DIR/in.wav") bytes of $mime read with $(cat "$model")" >"$OUTPUT_DIR/$id.txt"
	echo "Creating pdf file..." >&2
	{ echo "<html><body><p>"; cat "$OUTPUT_DIR/$id.txt"; echo "</p></body></html>"; } >"$TMP_DIR/text.html"
	{ echo "%PDF-1.4"; cat "$TMP_DIR/text.html"; } >"$OUTPUT_DIR/$id.pdf"
	files="$files${files:+,}{\"itemId\":\"$item_id\",\"textFiles\":{\"$id\":\"$id.txt\"},\"pdfFiles\":{\"$id\":\"$id.pdf\"}}"
done
printf '{"files":[%s]}' "$files"
