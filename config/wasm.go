package config

import (
	"path/filepath"

	"github.com/berth-dev/berth/runner/wasm"
)

// WasmCacheDir is the directory under cache-dir holding the wasm runner's
// compiled modules. Its leading dot keeps it apart from the addons'
// CACHE_DIRs: a cache key never starts with a dot.
const WasmCacheDir = ".wasm-compiled"

// WasmConfig returns the wasm runner's configuration. It has no section of
// its own: compiled modules are cached under cache-dir, and a module's
// memory is bounded by sandbox-limits.memory like a sandboxed process's.
func (c *Config) WasmConfig() wasm.Config {
	return wasm.Config{
		CacheDir:    filepath.Join(c.CacheDir, WasmCacheDir),
		MemoryBytes: int64(c.SandboxLimits.Memory),
	}
}
