package wasm_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth"
	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/config"
	"github.com/berth-dev/berth/executor"
)

// The example addon, built as its README says, runs through the runners
// berth assembles from its default configuration: wasm is chosen, and
// nothing but the module's own build is needed.
func TestTheHelloWasmExampleRunsThroughBerthsAssembly(t *testing.T) {
	src := filepath.Join("..", "..", "examples", "hello-wasm")
	dir := t.TempDir()
	if err := addon.CopyDir(src, dir); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "hello.wasm")) // a local build, if any, is not what we test
	a, err := addon.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.WorkingDir, cfg.CacheDir = t.TempDir(), t.TempDir()
	cfg.RequireIsolation = true
	ex := berth.NewExecutor(context.Background(), cfg, berth.Options{})

	// Not built yet: the run says how to build it.
	res, err := ex.Run(context.Background(), executor.Request{Steps: []executor.Step{{Addon: a, UserInput: "Hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != executor.ExecutionFailed || !strings.Contains(res.Error, "build it first") {
		t.Fatalf("unbuilt example: %s (%s), want execution-failed saying to build it", res.Kind, res.Error)
	}

	buildWasip1(t, src, filepath.Join(dir, "hello.wasm")) // as make does
	itemData := filepath.Join(t.TempDir(), "item.json")
	writeFile(t, itemData, []byte(`{"id":"item7"}`))
	outDir := filepath.Join(t.TempDir(), "out")
	res, err = ex.Run(context.Background(), executor.Request{
		Steps:     []executor.Step{{Addon: a, UserInput: "Hi from a test"}},
		Item:      &executor.Item{Data: mustRead(t, itemData)},
		OutputDir: outDir,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != executor.Success || res.Runner != "wasm" || !res.Isolated {
		t.Fatalf("result %s runner %s isolated %t: %s %q", res.Kind, res.Runner, res.Isolated, res.Error, res.StderrTail)
	}
	b, _ := json.Marshal(res.Output)
	if !strings.Contains(string(b), `"item7"`) || !strings.Contains(string(b), "Hi from a test (run 1)") {
		t.Errorf("output = %s", b)
	}
	if got := strings.TrimSpace(string(mustRead(t, filepath.Join(outDir, "greeting.txt")))); got != "Hi from a test" {
		t.Errorf("greeting.txt = %q", got)
	}
	if _, err := os.Stat(filepath.Join(cfg.CacheDir, config.WasmCacheDir)); err != nil {
		t.Errorf("no compilation cache under cache-dir: %v", err)
	}
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
