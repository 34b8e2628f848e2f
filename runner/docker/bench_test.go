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

			var berth, base []time.Duration
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
			}
			b.StopTimer()
			mb, mr := median(berth), median(base)
			b.ReportMetric(float64(mb.Microseconds())/1000, "berth-ms")
			b.ReportMetric(float64(mr.Microseconds())/1000, "bare-ms")
			b.ReportMetric(100*float64(mb-mr)/float64(mr), "overhead-%")
		})
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
