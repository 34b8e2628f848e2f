#!/bin/sh
# A JVM addon as a Docspell user writes one: java from PATH, the JDK's
# single-file source launcher.
exec java "$ADDON_DIR/Addon.java" "$@"
