
#!/usr/bin/env bash

echo "ran by a shell with $# argument(s)" > "$OUTPUT_DIR/ran"

