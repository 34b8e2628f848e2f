#!/bin/sh
head -c 20000000 /dev/zero | tr "\0" "a"
