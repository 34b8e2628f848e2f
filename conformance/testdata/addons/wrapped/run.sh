#!/bin/sh
# Tags the item with what the wrapper set: nothing when run unwrapped.
echo "{\"commands\":[{\"command\":\"item-update\",\"itemId\":\"i1\",\"actions\":[{\"action\":\"add-tags\",\"tags\":[\"${WRAPPED_BY:-unwrapped}\"]}]}]}"
