package executor

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/berth-dev/berth/internal/lazyregexp"
)

var envName = lazyregexp.New(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkRunEnv refuses a Request.Env that no runner could pass on: a
// name that is not a variable name, a value holding a line break (the
// container env file) or a NUL. The error names the variable, never the
// value.
func checkRunEnv(env map[string]string) error {
	for k, v := range env {
		if !envName().MatchString(k) {
			return fmt.Errorf("%w: run environment: %q is not a variable name", ErrBadRequest, k)
		}
		if strings.ContainsAny(v, "\n\r\x00") {
			return fmt.Errorf("%w: run environment: the value of %s holds a line break or NUL", ErrBadRequest, k)
		}
	}
	return nil
}

// ReadEnvFile reads KEY=VALUE lines (blank lines and lines starting
// with # are skipped; the value is taken verbatim, no quotes removed), as
// docker's --env-file does. It is how a host hands `berth addon run` a
// run's secrets (--env-file) without putting them into argv. Errors name
// the file and line, never a value.
func ReadEnvFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !envName().MatchString(k) {
			return nil, fmt.Errorf("%s: line %d: want NAME=VALUE with a variable name", path, n)
		}
		env[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return env, nil
}
