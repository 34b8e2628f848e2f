package executor_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/executor"
)

// scriptAddon writes a trivial addon running script with /bin/sh.
func scriptAddon(t *testing.T, name, script string) *addon.Addon {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docspell-addon.yaml"), []byte("meta:\n  name: "+name+"\n  version: \"1\"\nrunner:\n  trivial:\n    enable: true\n    exec: run.sh\n"), 0o644); err != nil {
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

// TestASparseOutputFileCannotFillTheDisk is issue 16's "output files are
// copied with no size limit": a 10 TiB sparse file costs the addon
// nothing, and berth's copy of it would fill the host's disk. Under the
// default output-files-cap the run fails and nothing is kept.
func TestASparseOutputFileCannotFillTheDisk(t *testing.T) {
	a := scriptAddon(t, "sparse", `truncate -s 10T "$OUTPUT_DIR/huge" && echo small > "$OUTPUT_DIR/small"; echo '{}'`)
	ex := newExecutor(t)
	out := filepath.Join(t.TempDir(), "kept")
	res, err := ex.Run(context.Background(), executor.Request{Steps: []executor.Step{{Addon: a}}, OutputDir: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != executor.ExecutionFailed || !strings.Contains(res.Error, "output-files-cap") {
		t.Fatalf("result %s (%s), want execution-failed naming output-files-cap", res.Kind, res.Error)
	}
	if res.Output != nil || len(res.OutputFiles) != 0 {
		t.Errorf("a refused run returned output %v, files %v", res.Output, res.OutputFiles)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("the output dir holds %d entries, want none kept", len(entries))
	}
}

func TestOutputFilesUnderTheCapAreKept(t *testing.T) {
	a := scriptAddon(t, "fits", `head -c 1000 /dev/zero > "$OUTPUT_DIR/a"; head -c 1000 /dev/zero > "$OUTPUT_DIR/b"; echo '{}'`)
	for _, tt := range []struct {
		name string
		cap  int64
		kind executor.Kind
	}{
		{"2000 bytes fit a cap of 2000", 2000, executor.Success},
		{"2000 bytes do not fit a cap of 1999", 1999, executor.ExecutionFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ex := newExecutor(t)
			ex.OutputFilesCap = tt.cap
			out := filepath.Join(t.TempDir(), "kept")
			res, err := ex.Run(context.Background(), executor.Request{Steps: []executor.Step{{Addon: a}}, OutputDir: out})
			if err != nil {
				t.Fatal(err)
			}
			if res.Kind != tt.kind {
				t.Fatalf("result %s (%s), want %s", res.Kind, res.Error, tt.kind)
			}
			entries, _ := os.ReadDir(out)
			if want := map[bool]int{true: 2, false: 0}[tt.kind == executor.Success]; len(entries) != want {
				t.Errorf("kept %d files, want %d", len(entries), want)
			}
		})
	}
}

// TestACacheOverItsCapIsEmptied is issue 16's "no limit on CACHE_DIR":
// what a cache really uses on disk is bounded; a sparse file, which
// uses nothing, does not count.
func TestACacheOverItsCapIsEmptied(t *testing.T) {
	ex := newExecutor(t)
	ex.CacheCap = 1 << 20
	cache := filepath.Join(ex.CacheRoot, "cache-filler")
	run := func(script string) *executor.Result {
		t.Helper()
		res, err := ex.Run(context.Background(), executor.Request{Steps: []executor.Step{{Addon: scriptAddon(t, "cache-filler", script)}}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Kind != executor.Success {
			t.Fatalf("result %s (%s)", res.Kind, res.Error)
		}
		return res
	}
	res := run(`truncate -s 1T "$CACHE_DIR/sparse"; head -c 100000 /dev/urandom > "$CACHE_DIR/model"; echo '{}'`)
	if strings.Contains(strings.Join(res.Warnings, "; "), "cache-cap") {
		t.Errorf("warnings %q for a cache well under its cap", res.Warnings)
	}
	if _, err := os.Stat(filepath.Join(cache, "model")); err != nil {
		t.Fatalf("the cache lost a file under its cap: %v", err)
	}
	res = run(`head -c 3000000 /dev/urandom > "$CACHE_DIR/big"; echo '{}'`)
	if !strings.Contains(strings.Join(res.Warnings, "; "), "cache-cap") {
		t.Errorf("warnings %q, want one naming cache-cap", res.Warnings)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Errorf("the cache over its cap still holds %d entries", len(entries))
	}
}
