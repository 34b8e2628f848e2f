package wasm_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fixtureDir holds the modules built for this test binary.
var fixtureDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-wasm-fixtures-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fixtureDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// fixture builds the Go program testdata/<name> for wasip1 once per test
// binary and returns the module's path. testdata/wash is a module of its
// own (it needs mvdan.cc/sh); the others use only the standard library.
func fixture(t testing.TB, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[name]; ok {
		return p
	}
	out := filepath.Join(fixtureDir, filepath.Base(name)+".wasm")
	buildWasip1(t, filepath.Join("testdata", name), out)
	built[name] = out
	return out
}

// buildWasip1 builds the Go main package in dir into the module out.
func buildWasip1(t testing.TB, dir, out string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("building wasm fixtures needs the go tool: %v", err)
	}
	cmd := exec.Command(goBin, "build", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s for wasip1: %v\n%s", dir, err, b)
	}
}

// writeAddon makes an addon directory whose wasm runner runs module
// (copied in as bin/<base>), with args and extra files.
func writeAddon(t testing.TB, name, module string, args []string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "meta:\n  name: %s\n  version: \"1.0\"\n", name)
	if len(args) > 0 {
		b.WriteString("args:\n")
		for _, a := range args {
			fmt.Fprintf(&b, "  - %q\n", a)
		}
	}
	fmt.Fprintf(&b, "runner:\n  wasm:\n    enable: true\n    module: bin/%s\n", filepath.Base(module))
	files = maps(files, "docspell-addon.yaml", b.String())
	for n, content := range files {
		writeFile(t, filepath.Join(dir, n), []byte(content))
	}
	data, err := os.ReadFile(module)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "bin", filepath.Base(module)), data)
	return dir
}

func maps(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for a, b := range m {
		out[a] = b
	}
	return out
}

func writeFile(t testing.TB, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
