#!/bin/sh
# What tiborrr/docspell-addon-example's main.py (commit 50360fd) does:
#   main.py:36-58   reads the user input from its first argument, a path
#                   relative to the working directory (main.py:17-31), and
#                   every variable Docspell provides, loading the JSON
#                   files that exist (main.py:10-14)
#   main.py:65-118  logs all of it to stderr, DSC_SESSION masked
#   main.py:112-116 logs every DOCSPELL_TEST_* variable, sorted
#   main.py:121-127 prints {} (no changes)
# Its test (test/main_test.py:98-115) asserts the log lines; the
# conformance test asserts the same ones.
log() { echo "$*" >&2; }
json() { [ -n "$1" ] && [ -f "$1" ] && tr -d '\n' <"$1"; }
log "=== Docspell addon context ==="
log "User input file: $1"
log "User input: $(json "$1")"
log "running as: $(id -un)"
for v in ADDON_DIR TMP_DIR OUTPUT_DIR CACHE_DIR ITEM_DIR ITEM_ORIGINAL_DIR ITEM_PDF_DIR; do
	eval "log \"$v: \${$v-None}\""
done
log "Item: $(json "$ITEM_DATA_JSON")"
log "Item args (upload): $(json "$ITEM_ARGS_JSON")"
log "ITEM_ORIGINAL_JSON: $(json "$ITEM_ORIGINAL_JSON")"
log "ITEM_PDF_JSON: $(json "$ITEM_PDF_JSON")"
log "DSC_DOCSPELL_URL: ${DSC_DOCSPELL_URL-None}"
log "DSC_SESSION: $([ -n "$DSC_SESSION" ] && echo '***' || echo None)"
log "--- DOCSPELL_TEST_* env vars ---"
env | grep '^DOCSPELL_TEST_' | sort >&2
echo '{}'
