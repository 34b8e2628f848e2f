#!/bin/sh
set -e
echo "sleep: started" >&2
sleep "$(cat "$1")"
echo '{}'
