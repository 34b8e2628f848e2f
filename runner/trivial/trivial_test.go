package trivial_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/runner/runnertest"
	"github.com/berth-dev/berth/runner/trivial"
)

// packageScript makes a trivial addon that runs script with /bin/sh.
func packageScript(t *testing.T, descriptor, script string) *addon.Addon {
	t.Helper()
	dir := t.TempDir()
	descriptor += "runner:\n  trivial:\n    enable: true\n    exec: bin/run.sh\n"
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docspell-addon.yaml"), []byte(descriptor), 0o644); err != nil {
		t.Fatal(err)
	}
	// Written without the exec bit: the executor must add it to its copy, as for zips made
	// on systems that lose it.
	if err := os.WriteFile(filepath.Join(dir, "bin/run.sh"), []byte("#!/bin/sh\n"+script), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := addon.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestTrivialRunnerMeetsTheContract(t *testing.T) {
	runnertest.Run(t, runnertest.Harness{
		Runner:  trivial.New(nil),
		Package: packageScript,
	})
}

// TestAnExecLinkedOutOfTheAddonIsRefused is issue 18's first bullet for
// the trivial runner: runner.trivial.exec naming a link to a host file
// must be refused before anything runs or reads it, and the error must
// not show the file's content. The host file here is a script that would
// leave a marker (and print a secret) if berth ran it.
func TestAnExecLinkedOutOfTheAddonIsRefused(t *testing.T) {
	host := t.TempDir()
	marker := filepath.Join(host, "ran")
	script := filepath.Join(host, "host-program")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho SECRET-LINE >&2\ntouch "+marker+"\necho '{}'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, target string }{
		{"an absolute link", script},
		{"a relative link climbing out", "../../../../../../../../../.." + script},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "docspell-addon.yaml"), []byte("meta:\n  name: linked\n  version: \"1\"\nrunner:\n  trivial:\n    enable: true\n    exec: run.sh\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			exec := filepath.Join(dir, "run.sh")
			if err := os.WriteFile(exec, []byte("#!/bin/sh\necho '{}'\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			a, err := addon.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			// addon.Load refuses such a link; the runner must not rely on
			// it (the files may change after loading, a loader may be
			// more lenient): the link appears after Load.
			if err := os.Remove(exec); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(tt.target, exec); err != nil {
				t.Fatal(err)
			}
			ex := &executor.Executor{
				Runners:    map[string]runner.Runner{"trivial": trivial.New(nil)},
				Preference: []string{"trivial"},
				WorkRoot:   t.TempDir(), CacheRoot: t.TempDir(), Timeout: time.Minute,
			}
			res, err := ex.Run(context.Background(), executor.Request{Steps: []executor.Step{{Addon: a}}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("berth ran a host program the addon's exec links to")
			}
			if res.Kind != executor.ExecutionFailed || !strings.Contains(res.Error, "outside the addon") {
				t.Errorf("result %s (%s), want execution-failed saying the exec resolves outside the addon", res.Kind, res.Error)
			}
			if b, _ := json.Marshal(res); strings.Contains(string(b), "SECRET-LINE") {
				t.Errorf("the result shows the host file's content: %s", b)
			}
		})
	}
}
