package docker_test

import (
	"context"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/berth-dev/berth/engine/enginetest"
	"github.com/berth-dev/berth/runner/docker"
)

// BenchmarkDockerRunner runs the same tiny image through berth's runner
// (Prepare from the cache, then Run with the whole contract: mounts, env,
// hardening, limits, removal) and through a bare
// `docker run --rm --network none IMAGE`, alternating in one process, and
// reports both medians and berth's overhead in percent of the bare one.
// A third command, bare-hardened, is the bare run with berth's flags
// (hardening, limits, mounts, env): it tells the cost of the flags from
// the cost of berth itself.
//
//	go test ./runner/docker -run '^$' -bench DockerRunner -benchtime 20x
func BenchmarkDockerRunner(b *testing.B) {
	for _, eng := range engines {
		b.Run(eng.name, func(b *testing.B) {
			c := eng.require(b)
			enginetest.BusyboxImage(b, c)
			e := env{name: eng.name, c: c}
			a := e.dockerfileAddon(b, pure("bench"), "", map[string]string{
				"Dockerfile": "FROM " + enginetest.BusyboxRef + "\nENTRYPOINT [\"/bin/true\"]\n",
			})
			r := docker.New(docker.DefaultConfig(), docker.WithEngine(c))
			ctx := context.Background()
			p, err := r.Prepare(ctx, a) // build once, outside the timing
			if err != nil {
				b.Fatal(err)
			}
			inv := e.invocation(b, a, "bench-"+nonce())
			bare := append(c.Args("run", "--rm", "--network", "none", p.Image), "arguments/user-input")
			// The same hardening, mounts and env as berth's run, but with
			// --rm in one client call: what is left of the difference is
			// berth's own (prepare, the separate removal).
			cfg := docker.DefaultConfig()
			spec := docker.RunSpec{
				Name: "berth-bench-hardened", Image: p.Image, RunID: "bench", Addon: "bench", Version: "1.0",
				Network: "none", User: "0:0", CapDropAll: true, NoNewPrivileges: true, ReadOnlyRoot: true,
				Limits:  docker.Limits{Memory: cfg.Memory, CPUs: cfg.CPUs, Pids: cfg.Pids},
				WorkDir: inv.WorkDir, OutputDir: inv.OutputDir, CacheDir: inv.CacheDir,
				Env:  []string{"ADDON_DIR=addons/bench-1.0", "TMPDIR=temp", "TMP_DIR=temp", "OUTPUT_DIR=/mnt/output", "CACHE_DIR=/mnt/cache"},
				Args: []string{"arguments/user-input"},
			}
			hardenedArgs, err := docker.RunArgs(spec)
			if err != nil {
				b.Fatal(err)
			}
			hardened := c.Args(append([]string{"run", "--rm"}, hardenedArgs[1:]...)...)

			var berth, base, hard []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				p, err := r.Prepare(ctx, a)
				if err != nil {
					b.Fatal(err)
				}
				if exit, err := r.Run(ctx, p, inv); err != nil || exit.Code != 0 {
					b.Fatalf("berth run: exit %d, %v %q", exit.Code, err, exit.StderrTail)
				}
				berth = append(berth, time.Since(start))

				start = time.Now()
				if out, err := exec.Command(c.Binary, bare...).CombinedOutput(); err != nil {
					b.Fatalf("bare run: %v %s", err, out)
				}
				base = append(base, time.Since(start))

				start = time.Now()
				if out, err := exec.Command(c.Binary, hardened...).CombinedOutput(); err != nil {
					b.Fatalf("hardened bare run: %v %s", err, out)
				}
				hard = append(hard, time.Since(start))
			}
			b.StopTimer()
			mb, mr := median(berth), median(base)
			b.ReportMetric(float64(mb.Microseconds())/1000, "berth-ms")
			b.ReportMetric(float64(mr.Microseconds())/1000, "bare-ms")
			b.ReportMetric(float64(median(hard).Microseconds())/1000, "bare-hardened-ms")
			b.ReportMetric(100*float64(mb-mr)/float64(mr), "overhead-%")
		})
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
