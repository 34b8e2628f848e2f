package sandbox_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/runner/trivial"
	"github.com/berth-dev/berth/sandbox"
	"github.com/berth-dev/berth/sandbox/builtin"
	"github.com/berth-dev/berth/sandbox/sandboxtest"
)

// BenchmarkRunOverhead measures one run of a tiny addon, alternating in
// every iteration between: plain exec of the program, the trivial runner
// without sandbox, in the builtin sandbox, and in nspawn (when usable),
// with two peers that wrap the same program: bubblewrap (`bwrap --ro-bind
// / / --dev /dev --proc /proc --unshare-all --die-with-parent`) and
// `unshare --user --map-root-user --net --mount --pid --ipc --uts --fork`
// (issue 15's commands). It reports the median wall time of each as
// <kind>-ms, the builtin sandbox's median minus plain exec's as
// builtin-over-plain-ms, and the builtin sandbox's own cost (builtin minus
// the trivial runner without sandbox) as a ratio to bwrap's (bwrap minus
// plain exec) as builtin-cost/bwrap-cost (goal: at most 1).
//
//	go test ./sandbox -run '^$' -bench RunOverhead -benchtime 50x
//
// The builtin sandbox starts cmd/berth-sandbox-init as its init, as an
// installed berth does (the bench builds it first).
//
// BERTH_BENCH_NO_LIMITS=1 runs the sandboxes without cgroup limits (on
// cgroup v1 moving the init into its cgroups costs an RCU grace period);
// BERTH_BENCH_NO_NSPAWN=1 leaves nspawn out; BERTH_BENCH_SELF_INIT=1
// makes the test binary the builtin sandbox's init instead (as berth is
// when no berth-sandbox-init is installed next to it).
func BenchmarkRunOverhead(b *testing.B) {
	initPath := sandboxtest.BuildInit(b, "")
	if os.Getenv("BERTH_BENCH_SELF_INIT") != "" {
		initPath = builtin.SelfInit
	}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docspell-addon.yaml"), []byte("meta:\n  name: tiny\n  version: \"1.0\"\nrunner:\n  trivial:\n    enable: true\n    exec: run.sh\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\necho '{}'\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	a, err := addon.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	work, out, cache := b.TempDir(), b.TempDir(), b.TempDir()
	addonDir := filepath.Join(work, "addons", a.ID())
	for _, d := range []string{addonDir, filepath.Join(work, "arguments"), filepath.Join(work, "temp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	script, _ := os.ReadFile(filepath.Join(dir, "run.sh"))
	if err := os.WriteFile(filepath.Join(addonDir, "run.sh"), script, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, runner.UserInputFile), nil, 0o644); err != nil {
		b.Fatal(err)
	}
	inv := runner.Invocation{RunID: "bench", Addon: a, WorkDir: work, AddonDir: addonDir, OutputDir: out, CacheDir: cache,
		PathEnv: []string{"PATH=/usr/bin:/bin"}, KillGrace: time.Second}
	ctx := context.Background()

	type kind struct {
		name string
		run  func() error
	}
	kinds := []kind{{"plain", func() error {
		return exec.Command(filepath.Join(addonDir, "run.sh"), filepath.Join(work, runner.UserInputFile)).Run()
	}}}
	// The peers: whole processes wrapping the same script, as a user
	// would type them. Each is left out, with the reason, only when its
	// tool is not installed (.ci/run installs bubblewrap).
	prog := []string{filepath.Join(addonDir, "run.sh"), filepath.Join(work, runner.UserInputFile)}
	for _, peer := range []struct {
		name, bin string
		args      []string
	}{
		{"bwrap", "bwrap", []string{"--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all", "--die-with-parent"}},
		{"unshare", "unshare", []string{"--user", "--map-root-user", "--net", "--mount", "--pid", "--ipc", "--uts", "--fork"}},
	} {
		bin, err := exec.LookPath(peer.bin)
		if err != nil {
			b.Logf("leaving out the peer %s: %v", peer.name, err)
			continue
		}
		argv := append(slices.Clone(peer.args), prog...)
		if out, err := exec.Command(bin, argv...).CombinedOutput(); err != nil {
			b.Logf("leaving out the peer %s, which cannot run here: %v %s", peer.name, err, out)
			continue
		}
		kinds = append(kinds, kind{peer.name, func() error { return exec.Command(bin, argv...).Run() }})
	}
	for _, k := range []string{sandbox.KindNone, sandbox.KindBuiltin, sandbox.KindNspawn} {
		if k == sandbox.KindNspawn && os.Getenv("BERTH_BENCH_NO_NSPAWN") != "" {
			continue
		}
		cfg := sandbox.DefaultConfig()
		cfg.Kind = k
		cfg.InitPath = initPath
		if os.Getenv("BERTH_BENCH_NO_LIMITS") != "" {
			cfg.Limits = sandbox.Limits{}
		}
		sb, err := sandbox.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := sb.Available(ctx); err != nil {
			b.Logf("skipping %s: %v", k, err)
			continue
		}
		r := trivial.New(sb)
		p, err := r.Prepare(ctx, a)
		if err != nil {
			b.Fatal(err)
		}
		kinds = append(kinds, kind{k, func() error {
			exit, err := r.Run(ctx, p, inv)
			if err == nil && exit.Code != 0 {
				b.Fatalf("exit %d: %q", exit.Code, exit.StderrTail)
			}
			return err
		}})
	}
	times := make([][]time.Duration, len(kinds))
	b.ResetTimer()
	for range b.N {
		for i, k := range kinds {
			start := time.Now()
			if err := k.run(); err != nil {
				b.Fatalf("%s: %v", k.name, err)
			}
			times[i] = append(times[i], time.Since(start))
		}
	}
	b.StopTimer()
	medians := map[string]float64{}
	for i, k := range kinds {
		slices.Sort(times[i])
		medians[k.name] = float64(times[i][len(times[i])/2]) / float64(time.Millisecond)
		b.ReportMetric(medians[k.name], k.name+"-ms")
	}
	// The goal: the builtin sandbox adds at most 15 ms over plain exec.
	if m, ok := medians[sandbox.KindBuiltin]; ok {
		b.ReportMetric(m-medians["plain"], "builtin-over-plain-ms")
		if bw, ok := medians["bwrap"]; ok && bw > medians["plain"] {
			b.ReportMetric((m-medians[sandbox.KindNone])/(bw-medians["plain"]), "builtin-cost/bwrap-cost")
		}
	}
}
