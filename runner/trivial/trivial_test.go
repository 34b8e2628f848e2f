package trivial_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/addon"
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
