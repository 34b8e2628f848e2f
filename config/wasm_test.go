package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/addon"
)

func TestTheWasmRunnerIsConfiguredFromCacheDirAndSandboxLimits(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "berth.yaml")
	if err := os.WriteFile(file, []byte("cache-dir: /var/cache/berth\nrunners: [wasm, trivial]\nsandbox-limits:\n  memory: 256MiB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := Load(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.WasmConfig()
	if w.CacheDir != "/var/cache/berth/.wasm-compiled" || w.MemoryBytes != 256<<20 {
		t.Errorf("wasm config = %+v, want the cache under cache-dir and sandbox-limits.memory", w)
	}
}

func TestTheDefaultRunnersPreferWasm(t *testing.T) {
	if got := Default().Runners; len(got) != len(addon.AllRunners) || got[0] != addon.RunnerWasm {
		t.Errorf("default runners = %v, want wasm first of all %v", got, addon.AllRunners)
	}
}
