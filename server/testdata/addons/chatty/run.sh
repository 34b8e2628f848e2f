#!/bin/sh
gate="$(cat "$1")"
for i in 1 2 3; do echo "chatty: line $i" >&2; done
n=0
while [ ! -e "$gate" ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done
echo "chatty: done" >&2
echo '{}'
