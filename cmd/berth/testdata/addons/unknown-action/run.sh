#!/bin/sh
echo "{\"commands\":[{\"command\":\"item-update\",\"itemId\":\"x\",\"actions\":[{\"action\":\"frobnicate\"}]}]}"
