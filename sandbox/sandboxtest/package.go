package sandboxtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/addon"
)

// PackageScript makes a trivial addon in a new directory that runs
// script with /bin/sh (runnertest.Harness.Package for the trivial runner).
func PackageScript(t *testing.T, descriptor, script string) *addon.Addon {
	t.Helper()
	dir := t.TempDir()
	descriptor += "runner:\n  trivial:\n    enable: true\n    exec: run.sh\n"
	if err := os.WriteFile(filepath.Join(dir, "docspell-addon.yaml"), []byte(descriptor), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	a, err := addon.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
