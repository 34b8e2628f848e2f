package service_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/engine/enginetest"
	"github.com/berth-dev/berth/service"
)

// tenContainers is a stack of 10 containers in 3 dependency layers
// (3 + 4 + 3).
func tenContainers() string {
	var b strings.Builder
	b.WriteString("backend: docker\ncontainers:\n")
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&b, "  {{P}}c%d:\n    image: {{IMG}}\n    cmd: %s\n    stopTimeout: 2s\n", i, loop)
		switch {
		case i >= 3 && i < 7:
			fmt.Fprintf(&b, "    dependsOn: [\"{{P}}c%d\"]\n", i-3)
		case i >= 7:
			fmt.Fprintf(&b, "    dependsOn: [\"{{P}}c%d\", \"{{P}}c%d\"]\n", i-4, i-3)
		}
	}
	return b.String()
}

// BenchmarkUpTenContainersInThreeLayers measures `up` of the stack until
// every container runs, and (down-ms) stopping and removing it all; the
// baseline starts the same ten containers with plain sequential
// `docker run -d`, then stops them with sequential `docker stop` and
// `docker rm`.
func BenchmarkUpTenContainersInThreeLayers(b *testing.B) {
	eng := enginetest.RequireDocker(b)
	ctx := context.Background()
	b.Run("baseline sequential docker run -d", func(b *testing.B) {
		img := enginetest.BusyboxImage(b, eng)
		var down time.Duration
		for i := 0; i < b.N; i++ {
			var names []string
			for j := 0; j < 10; j++ {
				n := fmt.Sprintf("berth-bench-%d-%d", i, j)
				names = append(names, n)
				if _, err := eng.Run(ctx, []string{"run", "-d", "--name", n, img, "sh", "-c", loopScript}, engine.RunOpts{}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			t0 := time.Now()
			for j := len(names) - 1; j >= 0; j-- {
				if _, err := eng.Run(ctx, []string{"stop", names[j]}, engine.RunOpts{}); err != nil {
					b.Fatal(err)
				}
				eng.RemoveContainer(ctx, names[j], true)
			}
			down += time.Since(t0)
			b.StartTimer()
		}
		b.ReportMetric(float64(down.Milliseconds())/float64(b.N), "down-ms")
	})
	b.Run("berth services up", func(b *testing.B) {
		var down time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			s := newStack(b, eng, tenContainers())
			b.StartTimer()
			sup, stop := s.up()
			for j := 0; j < 10; j++ {
				s.waitState(sup, fmt.Sprintf("%sc%d", s.p, j), service.Running)
			}
			b.StopTimer()
			t0 := time.Now()
			if err := stop(); err != nil {
				b.Fatal(err)
			}
			down += time.Since(t0)
			b.StartTimer()
		}
		b.ReportMetric(float64(down.Milliseconds())/float64(b.N), "down-ms")
	})
}

// BenchmarkRestartAfterCrash kills a running container and measures, with
// backoff set to 1ms: detect-ms, from the kill returning to berth noticing
// the exit (state backoff), and restart-ms, to the new container running.
// The baseline is one plain `docker run -d`, the floor for restart-ms.
func BenchmarkRestartAfterCrash(b *testing.B) {
	eng := enginetest.RequireDocker(b)
	ctx := context.Background()
	b.Run("baseline docker run -d", func(b *testing.B) {
		img := enginetest.BusyboxImage(b, eng)
		for i := 0; i < b.N; i++ {
			n := fmt.Sprintf("berth-bench-one-%d", i)
			if _, err := eng.Run(ctx, []string{"run", "-d", "--rm", "--name", n, img, "sh", "-c", "sleep 1000"}, engine.RunOpts{}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			eng.RemoveContainer(ctx, n, true)
			b.StartTimer()
		}
	})
	b.Run("berth restart", func(b *testing.B) {
		s := newStack(b, eng, `
backend: docker
containers:
  {{P}}crashy:
    image: {{IMG}}
    cmd: `+loop+`
    restartBackoff: {initial: 1ms, max: 1ms}
    startLimit: {burst: 1000000, interval: 1s}
    stopTimeout: 2s
`)
		name := s.p + "crashy"
		sup, stop := s.up()
		defer stop()
		var detect, restart time.Duration
		b.StopTimer()
		for i := 0; i < b.N; i++ {
			before := s.waitState(sup, name, service.Running)
			b.StartTimer()
			if err := eng.KillContainer(ctx, name, "KILL"); err != nil {
				b.Fatal(err)
			}
			killed := time.Now()
			bo := s.wait(sup, name, "backoff", func(st service.Status) bool { return st.State == service.Backoff || (st.State != service.Running) })
			detect += bo.Since.Sub(killed)
			after := s.wait(sup, name, "running again", func(st service.Status) bool {
				return st.State == service.Running && st.ContainerID != before.ContainerID
			})
			restart += after.Since.Sub(killed)
			b.StopTimer()
		}
		b.ReportMetric(float64(detect.Milliseconds())/float64(b.N), "detect-ms")
		b.ReportMetric(float64(restart.Milliseconds())/float64(b.N), "restart-ms")
	})
}

// BenchmarkHealthGatedStart measures gate-ms: from the moment db's check
// can pass (the file it tests is made) to app, which waits for db to be
// healthy, starting. The baseline is the engine alone: the same check on
// a plain container, its inspect polled every 20 ms until healthy. With
// interval 500ms both wait for the engine's next check; berth adds its
// polling (docker) or runs the check itself (podman).
func BenchmarkHealthGatedStart(b *testing.B) {
	for _, name := range []string{"docker", "podman"} {
		eng := engines[name](b)
		ctx := context.Background()
		b.Run(name+" baseline engine status", func(b *testing.B) {
			img := enginetest.BusyboxImage(b, eng)
			var total time.Duration
			for i := 0; i < b.N; i++ {
				n := fmt.Sprintf("berth-bench-health-%d", i)
				if _, err := eng.Run(ctx, []string{"run", "-d", "--rm", "--name", n, "--health-cmd", "test -e /tmp/ready", "--health-interval", "500ms",
					img, "sh", "-c", "sleep 1000"}, engine.RunOpts{}); err != nil {
					b.Fatal(err)
				}
				eng.Run(ctx, []string{"exec", n, "touch", "/tmp/ready"}, engine.RunOpts{})
				t0 := time.Now()
				for {
					if name == "podman" {
						// No systemd timers here: someone must run the check.
						eng.Run(ctx, []string{"healthcheck", "run", n}, engine.RunOpts{})
					}
					out, _ := eng.Run(ctx, []string{"inspect", "--format", "{{.State.Health.Status}}", n}, engine.RunOpts{})
					if strings.TrimSpace(string(out)) == "healthy" {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				total += time.Since(t0)
				eng.RemoveContainer(ctx, n, true)
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "gate-ms")
		})
		b.Run(name+" berth dependsOn healthy", func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				s := newStack(b, eng, `
backend: {{BACKEND}}
containers:
  {{P}}db:
    image: {{IMG}}
    cmd: `+loop+`
    healthcheck: {test: "test -e /tmp/ready", interval: 500ms, retries: 1000}
  {{P}}app:
    image: {{IMG}}
    cmd: `+loop+`
    dependsOn: [{name: "{{P}}db", condition: healthy}]
`)
				sup, stop := s.up()
				s.waitState(sup, s.p+"db", service.Running)
				eng.Run(ctx, []string{"exec", s.p + "db", "touch", "/tmp/ready"}, engine.RunOpts{})
				t0 := time.Now()
				st := s.wait(sup, s.p+"app", "starting", func(st service.Status) bool { return st.State != service.Waiting && st.State != service.Stopped })
				total += st.Since.Sub(t0)
				if err := stop(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "gate-ms")
		})
	}
}
