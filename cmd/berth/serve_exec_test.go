package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// berth links no daemon: `berth serve` runs berthd, found beside it.
func TestServeRunsTheDaemonBinary(t *testing.T) {
	t.Run("berth serve --help is berthd's, with every flag", func(t *testing.T) {
		r := berth(t, "serve", "--help")
		if r.code != 0 {
			t.Fatalf("serve --help = %d, stderr %q", r.code, r.stderr)
		}
		for _, want := range []string{"--listen", "--database-url", "--data-dir", "--token-file", "--concurrency"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("serve --help does not list %s:\n%s", want, r.stdout)
			}
		}
	})
	t.Run("berthd's flag errors are bad input, as before", func(t *testing.T) {
		if r := berth(t, "serve", "--no-such-flag"); r.code != 2 || !strings.Contains(r.stderr, "unknown flag: --no-such-flag") {
			t.Errorf("serve --no-such-flag = %d %q, want 2 naming the flag", r.code, r.stderr)
		}
	})
	t.Run("the config file given before serve reaches the daemon", func(t *testing.T) {
		cfg := filepath.Join(t.TempDir(), "berth.yaml")
		if err := os.WriteFile(cfg, []byte("serve:\n  concurrency: -3\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := berth(t, "--config", cfg, "serve", "--listen", "127.0.0.1:0")
		if r.code != 2 || !strings.Contains(r.stderr, "concurrency") {
			t.Errorf("serve with concurrency -3 from --config = %d %q, want 2 naming concurrency", r.code, r.stderr)
		}
	})
	t.Run("without berthd beside it or on PATH it says how to get one", func(t *testing.T) {
		dir := t.TempDir()
		alone := filepath.Join(dir, "berth")
		self, err := os.ReadFile(berthBin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(alone, self, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(alone, "serve")
		cmd.Env = []string{"PATH=" + dir}
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), "berthd") || !strings.Contains(string(out), "make build") {
			t.Errorf("serve without berthd = %d %q, want 2 naming berthd and make build", code, out)
		}
	})
	t.Run("a berthd others can write is refused", func(t *testing.T) {
		dir := t.TempDir()
		self, err := os.ReadFile(berthBin)
		if err != nil {
			t.Fatal(err)
		}
		for name, mode := range map[string]os.FileMode{"berth": 0o755, "berthd": 0o777} {
			if err := os.WriteFile(filepath.Join(dir, name), self, mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(dir, name), mode); err != nil {
				t.Fatal(err)
			}
		}
		out, _ := exec.Command(filepath.Join(dir, "berth"), "serve").CombinedOutput()
		if !strings.Contains(string(out), "writable by others") {
			t.Errorf("serve with a mode-0777 berthd: %q, want a refusal", out)
		}
	})
}
