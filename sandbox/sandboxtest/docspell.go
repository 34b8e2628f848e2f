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
	// Docspell's nspawn runner passes the user-input file relative to the
	// working directory (Context.scala:40-42, relativeToBase) and sets
	// XDG_RUNTIME_DIR to /mnt/work (RunnerUtil.scala:74); without nspawn
	// the path is absolute and XDG_RUNTIME_DIR not set by berth.
	t.Run("the user-input argument and XDG_RUNTIME_DIR are as Docspell's runner gives them (Context.scala:40-42, RunnerUtil.scala:74)", func(t *testing.T) {
		const input = "the user's input"
		res, out := s.runDir(t, sb, "docspell-arguments-"+token(), DocspellDir("arguments"), input, time.Minute)
		if res.Kind != executor.Success {
			t.Fatalf("result %s: %s (stderr %q)", res.Kind, res.Error, res.StderrTail)
		}
		if got := read(t, out, "input"); got != input {
			t.Errorf("the program read %q through its last argument, want %q", got, input)
		}
		arg, xdg := read(t, out, "input-arg"), read(t, out, "xdg")
		if sb.Name() == "nspawn" {
			if arg != runner.UserInputFile {
				t.Errorf("under nspawn the user-input argument is %q, want %q (relative, as Docspell)", arg, runner.UserInputFile)
			}
			if xdg != runner.ContainerPaths.Work {
				t.Errorf("under nspawn XDG_RUNTIME_DIR = %q, want %s", xdg, runner.ContainerPaths.Work)
			}
			return
		}
		if !strings.HasPrefix(arg, "/") || !strings.HasSuffix(arg, "/"+runner.UserInputFile) {
			t.Errorf("the user-input argument is %q, want an absolute path ending in %s", arg, runner.UserInputFile)
		}
	})
}
