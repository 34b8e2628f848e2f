package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/proc"
)

// ErrInitStopped is the cause of a run failed because its container's
// init (PID 1) was stopped: an addon can ptrace-attach it (the engines'
// default seccomp profiles allow ptrace) and so hold the container, and
// the run, until its timeout (issue 18).
var ErrInitStopped = errors.New("the addon stopped its container's init process (by ptrace or a stop signal); the run was failed now instead of at its timeout")

// Watch timing: runs shorter than initWatchDelay cost nothing; a stop is
// seen within about two initWatchInterval after it.
const (
	initWatchDelay    = time.Second
	initWatchInterval = 250 * time.Millisecond
)

// watchInit cancels the run with ErrInitStopped when the init of
// container name stays stopped. It finds the init's host PID with one
// inspect, and watches only a PID it can prove is that container's (its
// /proc/PID/cgroup names the container's ID): berth in a container of
// its own, or a remote engine, sees other processes or none there.
func (r *Runner) watchInit(ctx context.Context, name string, cancel context.CancelCauseFunc, log *slog.Logger) {
	wait := initWatchDelay
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		pid, id, err := r.initPID(ctx, name)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, engine.ErrNotFound), err == nil && pid == 0:
			// Not created, or not started, yet: a loaded engine, a
			// large image. Ask again.
			wait = initWatchInterval
			continue
		case err != nil:
			log.Debug("init watch: inspect", "err", err)
			return
		}
		cg, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
		if err != nil || !strings.Contains(string(cg), id) {
			log.Debug("init watch: the engine's PID is not visible here; not watching", "pid", pid)
			return
		}
		if err := proc.WatchStopped(ctx, pid, initWatchInterval); errors.Is(err, proc.ErrStopped) {
			log.Warn("the container's init is stopped: failing the run", "pid", pid)
			cancel(ErrInitStopped)
		}
		return
	}
}

// initPID returns the host PID of container name's init (0 before it
// started) and the container's full ID.
func (r *Runner) initPID(ctx context.Context, name string) (int, string, error) {
	out, err := r.eng.Run(ctx, []string{"container", "inspect", "--format", "{{.State.Pid}} {{.Id}}", name}, engine.RunOpts{})
	if err != nil {
		return 0, "", err
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return 0, "", fmt.Errorf("inspecting %s: unexpected %q", name, out)
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		return 0, "", fmt.Errorf("inspecting %s: pid %q: %w", name, f[0], err)
	}
	return pid, f[1], nil
}
