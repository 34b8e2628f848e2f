package addon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Scaffold creates dir holding a working trivial addon called name: a
// descriptor, a POSIX shell program that returns a tag command, and a
// README. dir must not exist yet.
func Scaffold(dir, name string) error {
	if !safeName().MatchString(name) {
		return fmt.Errorf("addon name %q may hold only letters, digits, '.', '_', '+' and '-'", name)
	}
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("%s already exists", dir)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	files := []struct {
		name string
		mode os.FileMode
		text string
	}{
		{"docspell-addon.yaml", 0o644, scaffoldDescriptor},
		{"addon.sh", 0o755, scaffoldScript},
		{"README.md", 0o644, scaffoldReadme},
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		text := strings.ReplaceAll(f.text, "NAME", name)
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(text), f.mode); err != nil {
			_ = os.RemoveAll(dir)
			return err
		}
	}
	return nil
}

const scaffoldDescriptor = `meta:
  name: NAME
  version: "0.1.0"
  description: |
    What NAME does, in one line.

triggers:
  - existing-item
  - final-process-item

runner:
  trivial:
    enable: true
    exec: addon.sh

options:
  networking: false   # pure: no network, the output is all it can do
  collectOutput: true
`

const scaffoldScript = `#!/bin/sh
# NAME: a berth / Docspell addon.
# $1 is the path of the user-input file (after the descriptor's args).
# Print one JSON object on stdout: the commands the host applies if
# this run succeeds. Write logs to stderr.
set -eu

input=$(cat "$1")
echo "NAME: user input is '$input'" >&2

item_id=""
if [ -n "${ITEM_DATA_JSON:-}" ] && [ -f "$ITEM_DATA_JSON" ]; then
  # item-data.json holds the item; take its id without needing jq.
  item_id=$(sed -n 's/.*"id"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$ITEM_DATA_JSON" | head -n 1)
fi

echo "hello from NAME" > "$OUTPUT_DIR/hello.txt"

if [ -n "$item_id" ]; then
  printf '{"commands":[{"command":"item-update","itemId":"%s","actions":[{"action":"add-tags","tags":["NAME"]}]}]}\n' "$item_id"
else
  printf '{"commands":[]}\n'
fi
`

const scaffoldReadme = "# NAME\n\nA Docspell-compatible addon, made with `berth addon new`.\n\n" +
	"Run it:\n\n    berth addon run . --args 'hello'\n    berth addon run . --item-data item.json --json\n\n" +
	"The runtime contract (directories, environment, output) is in berth's docs/addon-contract.md.\n"
