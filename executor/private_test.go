package executor_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/executor"
)

// TestAnotherLocalUserCannotReadARunsDocuments is issue 16's
// "world-readable documents": while a run lasts, a local user other than
// berth's must not read its item data, user input, output or cache. The
// test reads them as nobody while the addon waits.
func TestAnotherLocalUserCannotReadARunsDocuments(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as another local user (nobody)")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docspell-addon.yaml"), []byte("meta:\n  name: private\n  version: \"1\"\nrunner:\n  trivial:\n    enable: true\n    exec: run.sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho result > \"$OUTPUT_DIR/result.txt\"\necho cached > \"$CACHE_DIR/cached\"\nwhile [ ! -e \"$CACHE_DIR/go\" ]; do sleep 0.05; done\necho '{}'\n"
	if err := os.WriteFile(filepath.Join(dir, "run.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	a, err := addon.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ex := newExecutor(t)
	// Roots that others may traverse, as /tmp or /var/cache are: only
	// what berth creates below them must be private.
	for _, d := range []string{ex.WorkRoot, ex.CacheRoot} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Dir(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ex.WorkRoot = filepath.Join(ex.WorkRoot, "berth", "work")
	cache := filepath.Join(ex.CacheRoot, "private")
	done := make(chan *executor.Result, 1)
	go func() {
		res, err := ex.Run(context.Background(), executor.Request{
			Steps: []executor.Step{{Addon: a, UserInput: "my account number"}},
			Item:  &executor.Item{Data: []byte(`{"name":"payslip"}`)},
		})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	defer func() {
		_ = os.WriteFile(filepath.Join(cache, "go"), nil, 0o644)
		if res := <-done; res != nil && res.Kind != executor.Success {
			t.Errorf("result %s: %s", res.Kind, res.Error)
		}
	}()
	var run string
	for deadline := time.Now().Add(30 * time.Second); ; {
		m, _ := filepath.Glob(filepath.Join(ex.WorkRoot, "run-*"))
		if len(m) == 1 {
			if _, err := os.Stat(filepath.Join(cache, "cached")); err == nil {
				run = m[0]
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the run did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, p := range []string{
		filepath.Join(run, "work", "item", "item-data.json"),
		filepath.Join(run, "work", "arguments", "user-input"),
		filepath.Join(run, "output", "result.txt"),
		filepath.Join(cache, "cached"),
	} {
		cmd := exec.Command("cat", p)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("nobody read %s during the run: %q", p, out)
		}
	}
}
