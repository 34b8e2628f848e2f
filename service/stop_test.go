package service_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/service"
)

// ignoresTerm is a container whose PID 1 has no SIGTERM handler, so the
// kernel drops the signal (busybox sleep as PID 1, like many shell
// entrypoints): only the engine's SIGKILL after the grace stops it.
const ignoresTerm = `["sleep", "3600"]`

// oldGrace is the `stop -t 120` berth used to send; a stop of a
// SIGTERM-ignoring container that takes this long waited out berth's
// grace instead of the engine's.
const oldGrace = 120 * time.Second

// Issue 14 point 1: NixOS stops with a plain `docker stop NAME` / `podman
// stop --ignore --cidfile=…` (nixpkgs 035a24e7,
// nixos/modules/virtualisation/oci-containers.nix, mkService's preStop),
// i.e. the engine's default grace of 10 s, inside serviceConfig's
// TimeoutStopSec = 120.
func TestStopOfASIGTERMIgnoringContainerTakesTheEnginesGrace(t *testing.T) {
	for name, require := range engines {
		t.Run("on "+name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, require(t), `
backend: {{BACKEND}}
containers:
  {{P}}stubborn:
    image: {{IMG}}
    cmd: `+ignoresTerm+`
`)
			sup, stop := s.up()
			s.waitState(sup, s.p+"stubborn", service.Running)
			start := time.Now()
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			// A bound far from both graces, not a speed goal: 10 s is the
			// engine's, 120 s berth's old one (past waitLimit, so stop()
			// fails first).
			if took := time.Since(start); took >= oldGrace/2 {
				t.Errorf("stopping took %s: berth waited out a grace of its own instead of the engine's 10 s", took)
			}
			if left := s.leftovers(); len(left) != 0 {
				t.Errorf("containers left behind: %v", left)
			}
		})
	}
}

// recordingEngine returns a client for the same engine whose commands are
// recorded (the engine logs each argv at debug level).
func recordingEngine(eng *engine.Client) (*engine.Client, func() []string) {
	var mu sync.Mutex
	var buf bytes.Buffer
	h := slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug})
	rec := engine.New(eng.Binary, engine.WithGlobalArgs(eng.GlobalArgs...), engine.WithLogger(slog.New(h)))
	return rec, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Split(buf.String(), "\n")
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func stopTimeoutOf(t *testing.T, eng *engine.Client, name string) string {
	t.Helper()
	out, err := eng.Run(context.Background(), []string{"container", "inspect", "--format", "{{.Config.StopTimeout}}", name}, engine.RunOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// Issue 14 points 1 and 7: the grace lives with the container (run
// --stop-timeout), so berth's stop passes no -t that would override a
// --stop-timeout in extraOptions (or the engine's own default).
func TestStopTimeoutBelongsToTheContainerAndStopPassesNoT(t *testing.T) {
	for name, require := range engines {
		t.Run("on "+name, func(t *testing.T) {
			t.Parallel()
			eng, commands := recordingEngine(require(t))
			s := newStack(t, eng, `
backend: {{BACKEND}}
containers:
  {{P}}own:
    image: {{IMG}}
    cmd: `+loop+`
    stopTimeout: 7s
  {{P}}extra:
    image: {{IMG}}
    cmd: `+loop+`
    extraOptions: ["--stop-timeout=3"]
`)
			sup, stop := s.up()
			s.waitState(sup, s.p+"own", service.Running)
			s.waitState(sup, s.p+"extra", service.Running)
			if got := stopTimeoutOf(t, eng, s.p+"own"); got != "7" {
				t.Errorf("stopTimeout 7s: the container's StopTimeout is %s, want 7", got)
			}
			if got := stopTimeoutOf(t, eng, s.p+"extra"); got != "3" {
				t.Errorf("extraOptions --stop-timeout=3: the container's StopTimeout is %s, want 3", got)
			}
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			stops := 0
			for _, l := range commands() {
				_, args, ok := strings.Cut(l, `args="[`)
				if !ok {
					continue
				}
				args, _, _ = strings.Cut(args, `]"`)
				fields := strings.Fields(args)[len(eng.GlobalArgs):]
				if len(fields) > 0 && fields[0] == "stop" {
					stops++
					if strings.Contains(args, " -t ") {
						t.Errorf("a stop overrode the container's grace: %s", l)
					}
				}
			}
			if stops == 0 {
				t.Errorf("no stop command recorded:\n%s", strings.Join(commands(), "\n"))
			}
		})
	}
}

// Issue 14 point 1: a second Ctrl-C forces the stop. Force (what `up`
// calls on the second signal) kills a container that waits out a long
// grace.
func TestForceKillsAContainerWaitingOutItsGrace(t *testing.T) {
	for name, require := range engines {
		t.Run("on "+name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, require(t), `
backend: {{BACKEND}}
containers:
  {{P}}stubborn:
    image: {{IMG}}
    cmd: `+ignoresTerm+`
    stopTimeout: 300s
`)
			sup, stop := s.up()
			s.waitState(sup, s.p+"stubborn", service.Running)
			start := time.Now()
			stopped := make(chan error, 1)
			go func() { stopped <- stop() }()
			s.waitState(sup, s.p+"stubborn", service.Stopping)
			sup.Force()
			if err := <-stopped; err != nil {
				t.Fatalf("Run: %v", err)
			}
			if took := time.Since(start); took >= oldGrace/2 {
				t.Errorf("stop took %s after Force: the 300 s grace was waited out", took)
			}
			if left := s.leftovers(); len(left) != 0 {
				t.Errorf("containers left behind: %v", left)
			}
		})
	}
}
