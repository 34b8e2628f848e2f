#!/bin/sh
echo "about to fail" >&2; echo "{}"; exit 3
