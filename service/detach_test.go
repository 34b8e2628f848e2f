package service_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/service"
)

// cliPids are the pids of this process's engine commands whose argv
// holds every one of words (read from /proc).
func cliPids(t *testing.T, words ...string) []int {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, d := range dirs {
		raw, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil {
			continue
		}
		args := bytes.Split(bytes.TrimRight(raw, "\x00"), []byte{0})
		found := 0
		for _, w := range words {
			for _, a := range args {
				if string(a) == w {
					found++
					break
				}
			}
		}
		if found == len(words) {
			pid, _ := strconv.Atoi(filepath.Base(d))
			out = append(out, pid)
		}
	}
	return out
}

// TestACLIKilledByASignalLeavesItsContainerRunning: systemd's
// KillMode=control-group sends SIGTERM to every process of a stopping
// berth unit, the engine CLIs following the containers among them. The
// signal must not reach the container (run --sig-proxy=false), and the
// supervisor attaches to the container again rather than taking the
// CLI's end for the container's exit and restarting it.
func TestACLIKilledByASignalLeavesItsContainerRunning(t *testing.T) {
	for name, require := range engines {
		t.Run("on "+name, func(t *testing.T) {
			t.Parallel()
			eng := require(t)
			s := newStack(t, eng, `
backend: {{BACKEND}}
containers:
  {{P}}app:
    image: {{IMG}}
    cmd: `+loop+`
    stopTimeout: 2s
`)
			app := s.p + "app"
			sup, stop := s.up()
			s.waitState(sup, app, service.Running)
			ctx := context.Background()
			before, err := eng.InspectContainer(ctx, app)
			if err != nil {
				t.Fatal(err)
			}
			pids := cliPids(t, "run", "--sig-proxy=false", "--name="+app)
			if len(pids) != 1 {
				t.Fatalf("found %d run commands of %s: %v", len(pids), app, pids)
			}
			if err := syscall.Kill(pids[0], syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			// docker's CLI ignores the signal (without --sig-proxy) and
			// follows on; podman's exits, and berth attaches again.
			s.wait(sup, app, "followed again", func(st service.Status) bool {
				following := len(cliPids(t, "attach", "--sig-proxy=false", app)) == 1 ||
					(name == "docker" && len(cliPids(t, "run", "--sig-proxy=false", "--name="+app)) == 1)
				return st.State == service.Running && following
			})
			time.Sleep(time.Second) // time for a wrong restart to show
			after, err := eng.InspectContainer(ctx, app)
			if err != nil || !after.Running || after.ID != before.ID || !after.StartedAt.Equal(before.StartedAt) {
				t.Errorf("after the CLI's SIGTERM: %+v (err %v); before %+v: want the same container, running", after, err, before)
			}
			if st := sup.Status()[0]; st.Restarts != 0 {
				t.Errorf("restarts = %d, want 0", st.Restarts)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if left := s.leftovers(); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}
