package executor_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/runner/trivial"
	"github.com/berth-dev/berth/sandbox/builtin"
	"github.com/berth-dev/berth/sandbox/sandboxtest"
)

// TestMain lets the test binary be the builtin sandbox's init, should
// the sandbox fall back to it.
func TestMain(m *testing.M) {
	if builtin.IsInit() {
		builtin.Init()
	}
	os.Exit(m.Run())
}

// sandboxes are the trivial runner's set-ups the disk tests run under:
// no sandbox, and berth's own (its init built once, into t's temporary
// directory).
func sandboxes(t *testing.T) []struct {
	name string
	new  func(t *testing.T) runner.Runner
} {
	var (
		dir      = t.TempDir()
		once     sync.Once
		initPath string
	)
	return []struct {
		name string
		new  func(t *testing.T) runner.Runner
	}{
		{"trivial without a sandbox", func(t *testing.T) runner.Runner { return trivial.New(nil) }},
		{"trivial in the builtin sandbox", func(t *testing.T) runner.Runner {
			once.Do(func() { initPath = sandboxtest.BuildInit(t, dir) })
			if initPath == "" {
				t.Skip("berth-sandbox-init could not be built")
			}
			sb := builtin.New(builtin.Config{Limits: builtin.DefaultLimits(), InitPath: initPath})
			if err := sb.Available(context.Background()); err != nil {
				t.Skipf("the builtin sandbox is not available here: %v", err)
			}
			sandboxtest.KeepMountTable(t)
			return trivial.New(sb)
		}},
	}
}

// peakDisk polls what the trees below dirs use on disk (allocated
// blocks, as du counts) every few milliseconds until stop is called,
// which returns the most it saw: what an addon had written when it was
// stopped, although berth removes WORK and OUTPUT_DIR afterwards.
func peakDisk(dirs ...string) (stop func() int64) {
	var (
		peak int64
		quit = make(chan struct{})
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			var n int64
			for _, d := range dirs {
				_ = filepath.WalkDir(d, func(_ string, e fs.DirEntry, err error) error {
					if err != nil {
						return nil
					}
					if fi, err := e.Info(); err == nil {
						n += fi.Sys().(*syscall.Stat_t).Blocks * 512
					}
					return nil
				})
			}
			peak = max(peak, n)
			select {
			case <-quit:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() int64 {
		close(quit)
		<-done
		return peak
	}
}

// TestAnAddonFillingTheDiskIsStoppedAtRunDiskCap is issue 16's "disk use
// while a run lasts": an addon writing 1 GiB into WORK, OUTPUT_DIR or
// CACHE_DIR under a run-disk-cap of 16 MiB is stopped while it writes,
// and its run fails saying so, with nothing of its output applied.
func TestAnAddonFillingTheDiskIsStoppedAtRunDiskCap(t *testing.T) {
	const (
		limit = 16 << 20
		bound = 256 << 20 // far below the 1 GiB it would write
	)
	for _, sb := range sandboxes(t) {
		for _, dir := range []string{"$TMPDIR", "$OUTPUT_DIR", "$CACHE_DIR"} {
			t.Run(sb.name+"/"+strings.Trim(dir, "$"), func(t *testing.T) {
				a := scriptAddon(t, "filler", `echo '{"tags":["written"]}' > "$OUTPUT_DIR/out.json"
dd if=/dev/zero of="`+dir+`/fill" bs=1M count=1024 status=none
echo '{"tags":["written"]}'`)
				ex := newExecutor(t, sb.new(t))
				ex.RunDiskCap = limit
				stop := peakDisk(ex.WorkRoot, ex.CacheRoot)
				start := time.Now()
				res, err := ex.Run(context.Background(), executor.Request{Steps: []executor.Step{{Addon: a}}, OutputDir: filepath.Join(t.TempDir(), "kept")})
				took := time.Since(start)
				peak := stop()
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("stopped after %s with %d MiB on disk at most (isolated: %t)", took.Round(time.Millisecond), peak>>20, res.Isolated)
				if res.Kind != executor.ExecutionFailed || !strings.Contains(res.Error, "more than run-disk-cap (16777216 bytes); the addon was stopped") {
					t.Errorf("result %s (%s), want execution-failed naming run-disk-cap", res.Kind, res.Error)
				}
				if peak >= bound {
					t.Errorf("the run's directories used %d MiB while it ran, want less than %d MiB", peak>>20, bound>>20)
				}
				if res.Output != nil || len(res.OutputFiles) != 0 || res.Addons[0].Output != nil {
					t.Errorf("a stopped run returned output %v, files %v", res.Output, res.OutputFiles)
				}
				if took > 30*time.Second {
					t.Errorf("the run took %s to stop", took)
				}
			})
		}
	}
}

// TestRunDiskCapLetsRunsWithinItBe checks what the cap must not stop: a
// sparse file of 10 TiB (it uses no disk), and a run well under the cap,
// each lasting long enough for the watchdog to look several times.
func TestRunDiskCapLetsRunsWithinItBe(t *testing.T) {
	for _, sb := range sandboxes(t) {
		for _, tt := range []struct {
			name, script string
		}{
			{"a 10 TiB sparse file", `truncate -s 10T "$TMPDIR/sparse" && truncate -s 10T "$CACHE_DIR/sparse"`},
			{"1 MiB in each directory", `for d in "$TMPDIR" "$OUTPUT_DIR" "$CACHE_DIR"; do head -c 1048576 /dev/urandom > "$d/data" || exit 1; done`},
		} {
			t.Run(sb.name+"/"+tt.name, func(t *testing.T) {
				a := scriptAddon(t, "within", tt.script+"\nsleep 1\necho '{}'\n")
				ex := newExecutor(t, sb.new(t))
				ex.RunDiskCap = 16 << 20
				res, err := ex.Run(context.Background(), executor.Request{Steps: []executor.Step{{Addon: a}}})
				if err != nil {
					t.Fatal(err)
				}
				if res.Kind != executor.Success {
					t.Errorf("result %s (%s), want success", res.Kind, res.Error)
				}
			})
		}
	}
}

// TestRunDiskCapStopsWhatItCannotMeasure covers the limits on the walk
// itself: more entries than run-files-cap (even empty ones: inodes, and
// the walk's own cost), and a tree too deep to walk, which could hide
// what it holds.
func TestRunDiskCapStopsWhatItCannotMeasure(t *testing.T) {
	for _, tt := range []struct {
		name, script, want string
	}{
		{"more entries than run-files-cap", `i=0; while [ $i -lt 3000 ]; do : > "$TMPDIR/f$i"; i=$((i+1)); done; sleep 30`, "more entries than run-files-cap (1000); the addon was stopped"},
		{"a tree too deep to walk", `cd "$CACHE_DIR" && i=0; while [ $i -lt 300 ]; do mkdir d && cd d || exit 1; i=$((i+1)); done; sleep 30`, "could not measure the disk use"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := scriptAddon(t, "many", tt.script+"\necho '{}'\n")
			ex := newExecutor(t)
			ex.RunFilesCap = 1000
			start := time.Now()
			res, err := ex.Run(context.Background(), executor.Request{Steps: []executor.Step{{Addon: a}}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Kind != executor.ExecutionFailed || !strings.Contains(res.Error, tt.want) {
				t.Errorf("result %s (%s), want execution-failed with %q", res.Kind, res.Error, tt.want)
			}
			if took := time.Since(start); took > 20*time.Second {
				t.Errorf("the run took %s: the addon was not stopped", took)
			}
		})
	}
}
