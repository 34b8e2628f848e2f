package sandboxtest

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/runner"
)

// DocspellDir returns the directory of a fixture addon laid out as one
// of Docspell's own tests lays it out (testdata/docspell).
func DocspellDir(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "docspell", name)
}

// Docspell runs, under sb (runner.NoSandbox{} for none), the fixtures
// that reproduce how Docspell starts programs, so that an addon written
// for Docspell behaves the same on berth.
func Docspell(t *testing.T, sb runner.Sandbox) {
	s := suite{Options{Sandbox: sb}}
	// Docspell's AddonExecutorTest runs addons that AddonGenerator
	// (modules/addonlib/src/test/scala/docspell/addons/AddonGenerator.scala:100-101)
	// writes with a blank first line before "#!/usr/bin/env bash"; Java's
	// ProcessBuilder, like execvp, runs a file the kernel refuses
	// (ENOEXEC) through /bin/sh.
	t.Run("a program with a blank line before its shebang runs through /bin/sh (AddonGenerator.scala:100)", func(t *testing.T) {
		res, out := s.runDir(t, sb, "docspell-blank-first-line-"+token(), DocspellDir("blank-first-line"), "", time.Minute)
		if res.Kind != executor.Success {
			t.Fatalf("result %s: %s (stderr %q)", res.Kind, res.Error, res.StderrTail)
		}
		if got := read(t, out, "ran"); !strings.HasPrefix(got, "ran by a shell") {
			t.Errorf("the program left %q, want it to have run", got)
		}
	})
}
