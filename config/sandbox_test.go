package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/addon"
)

// Issue 18: an addon named sandbox-probe had its CACHE_DIR at
// cache-dir/sandbox-probe, the probe cache file's path, so either the
// addon's runs or the probe's cache broke. The executor names cache dirs
// after addon names or a cache key with leading dots trimmed; the probe
// file's name must be one that no addon name can take.
func TestProbeCacheCannotBeAnAddonsCacheDir(t *testing.T) {
	c := Default()
	c.CacheDir = t.TempDir()
	p := c.SandboxConfig("auto").ProbeCache
	if filepath.Dir(p) != c.CacheDir {
		t.Fatalf("probe cache %s is not directly under cache-dir %s", p, c.CacheDir)
	}
	name := filepath.Base(p)
	if _, err := addon.ParseDescriptor("d.yaml", []byte("meta: {name: '"+name+"', version: '1'}\n")); err == nil {
		t.Errorf("an addon may be named %q, the probe cache's name: its CACHE_DIR would be the probe cache", name)
	}
	if !strings.HasPrefix(name, ".") {
		t.Errorf("probe cache %q does not start with a dot, which the executor trims off cache keys", name)
	}
}
