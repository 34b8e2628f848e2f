#!/usr/bin/env python3
# Follows Docspell's addon docs (website/site/content/docs/addons/writing.md:110-115):
# look up the id in ITEM_PDF_JSON, open ITEM_PDF_DIR/{id}; select originals
# by mimetype like audio-files-addon (src/addon.scm:100-105).
import json, os, pathlib, sys

cache = pathlib.Path(os.environ["HOME"]) / ".cache" / "python-addon"
cache.mkdir(parents=True, exist_ok=True)
(cache / "seen").write_text("1")

pdfs = json.load(open(os.environ["ITEM_PDF_JSON"]))
originals = json.load(open(os.environ["ITEM_ORIGINAL_JSON"]))
tags = []
for f in pdfs:
    data = open(os.path.join(os.environ["ITEM_PDF_DIR"], f["id"]), "rb").read()
    if data.startswith(b"%PDF") and f["mimetype"] == "application/pdf":
        tags.append("pdf-" + f["id"])
for f in originals:
    if f["mimetype"].startswith("audio/"):
        open(os.path.join(os.environ["ITEM_ORIGINAL_DIR"], f["id"]), "rb").read()
        tags.append("audio-" + f["id"])
item = json.load(open(os.environ["ITEM_DATA_JSON"]))
print(json.dumps({"commands": [{"command": "item-update", "itemId": item["id"],
      "actions": [{"action": "add-tags", "tags": tags}]}]}))
