#!/bin/sh
sleep 987123 & (sleep 987123 &) ; sleep 987123
