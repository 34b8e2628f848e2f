package settings

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// MinTokenLength is the shortest API token berth accepts.
const MinTokenLength = 16

// ReadTokenFile reads an API token file: one token a line, surrounding
// space trimmed, blank lines and lines starting with '#' skipped. `berth
// serve --token-file` and the CLI's --token-file both read it, so one file
// works for both. Errors name the file and line, never the token.
func ReadTokenFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if len(t) < MinTokenLength {
			return nil, fmt.Errorf("%s:%d: a token must be at least %d characters", path, line, MinTokenLength)
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}
