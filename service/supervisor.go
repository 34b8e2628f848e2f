package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/service/spec"
)

// Config is what a Supervisor needs.
type Config struct {
	Spec   *spec.File
	Engine *engine.Client
	// StateDir holds state.json, the lock, control.sock and logs/NAME.log.
	StateDir string
	// Project labels every container (berth.project) so that plan can
	// find the ones no longer declared.
	Project string
	// Names limits `up` to these containers and their dependencies.
	Names []string
	// NoJournald drops log-driver journald (engine default applies); the
	// caller decides, from whether journald runs on this host.
	NoJournald bool
	Logger     *slog.Logger
	// OnChange, when set, is called (serialised) after every state change.
	OnChange func(Status)
	// OnPlan, when set, is called with the plan before it is applied.
	OnPlan func(*Plan)
	// PollInterval is how often a starting container is inspected until it
	// runs. Default 50ms.
	PollInterval time.Duration
	// Supervisor names who runs this supervisor, kept in state.json
	// (Snapshot.Supervisor): "daemon" for berth serve, "" for a
	// foreground `berth services up`.
	Supervisor string
	// ProgressInterval is how often the detail of a long start step (an
	// image load or pull) is refreshed with what it has done so far.
	// Default 5s.
	ProgressInterval time.Duration
}

// Supervisor keeps the selected containers of a spec running.
type Supervisor struct {
	cfg     Config
	log     *slog.Logger
	order   []string // start order
	svcs    map[string]*svc
	plan    *Plan
	started time.Time

	mu       sync.Mutex
	changed  chan struct{}
	snapErr  error
	stopping bool // shutdown began: nothing starts any more
	force    bool // Force was called: stops kill at once
	// leaving: Leave was called; Run ends without stopping containers.
	leaving bool
	leave   chan struct{}
}

type svc struct {
	name    string
	c       *spec.Container
	hash    string
	adopt   bool // first start attaches to the running, unchanged container
	log     *serviceLog
	done    chan struct{}
	st      Status
	want    bool
	restart bool // a restart was requested
	fails   []time.Time
	backoff int
	procAt  time.Time
	// completed: the last run ended with exit 0 and was not restarted
	// (a dependsOn condition completed-successfully is met).
	completed bool
	// checked: the running container's health check has been read
	// (st.Health "" then means it has none).
	checked bool
	// unhealthy: the check turned unhealthy and onUnhealthy acts.
	unhealthy bool
}

// New checks cfg and prepares a supervisor; nothing is started.
func New(cfg Config) (*Supervisor, error) {
	if cfg.Spec == nil || cfg.Engine == nil || cfg.StateDir == "" || cfg.Project == "" {
		return nil, errors.New("service.New: Spec, Engine, StateDir and Project are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	if cfg.ProgressInterval <= 0 {
		cfg.ProgressInterval = 5 * time.Second
	}
	order, err := Selected(cfg.Spec, cfg.Names)
	if err != nil {
		return nil, err
	}
	if err := checkPodmanUsers(cfg.Spec, order); err != nil {
		return nil, err
	}
	s := &Supervisor{cfg: cfg, log: cfg.Logger, order: order, svcs: map[string]*svc{}, changed: make(chan struct{}),
		leave: make(chan struct{})}
	for _, n := range order {
		c := cfg.Spec.Containers[n]
		s.svcs[n] = &svc{name: n, c: c, hash: spec.Hash(cfg.Spec.Backend, n, c), done: make(chan struct{}),
			st: Status{Name: n, State: Stopped, Since: time.Now()}}
	}
	return s, nil
}

// checkPodmanUsers refuses a podman.user other than the user running
// berth: `up` runs podman as itself and would otherwise start a rootless
// container as root (or another user's) without a word.
func checkPodmanUsers(f *spec.File, names []string) error {
	me, err := user.Current()
	if err != nil {
		return fmt.Errorf("who runs berth: %w", err)
	}
	var errs []error
	for _, n := range names {
		c := f.Containers[n]
		// root is NixOS's default, which cannot be told from an explicit
		// root: a non-root berth runs such containers rootless as itself.
		if c.Podman == nil || c.Podman.User == me.Username || c.Podman.User == "root" {
			continue
		}
		errs = append(errs, &spec.Error{File: f.Path, Container: n, Field: "podman.user", Reason: fmt.Sprintf(
			"is %s, but `berth services up` runs podman as %s, the user running it: run up as %s, or use `berth services generate systemd` (the unit runs podman as %s)",
			c.Podman.User, me.Username, c.Podman.User, c.Podman.User)})
	}
	return errors.Join(errs...)
}

// Plan returns the plan Run applied (nil before Run).
func (s *Supervisor) Plan() *Plan { return s.plan }

// Run applies the plan and supervises until ctx is cancelled (or Down is
// requested through the control socket); then it stops every service in
// reverse dependency order, removes their containers, and returns.
func (s *Supervisor) Run(ctx context.Context) error {
	unlock, err := lockStateDir(s.cfg.StateDir)
	if err != nil {
		return err
	}
	defer unlock()
	s.started = time.Now()
	for _, v := range s.svcs {
		if v.log, err = openServiceLog(s.cfg.StateDir, v.name); err != nil {
			return err
		}
		defer v.log.Close()
	}
	// Engine commands outlive ctx so that the shutdown can still stop
	// containers; runCtx is cancelled last, as a backstop.
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()

	plan, err := ComputePlan(runCtx, s.cfg.Engine, s.cfg.Spec, s.cfg.Project, s.cfg.Names)
	if err != nil {
		return err
	}
	s.plan = plan
	if s.cfg.OnPlan != nil {
		s.cfg.OnPlan(plan)
	}
	if err := plan.Conflicts(); err != nil {
		return err
	}
	for _, ch := range plan.Changes {
		switch ch.Action {
		case Remove:
			s.log.Info("removing container no longer declared", "service", ch.Name)
			if err := s.stopContainer(runCtx, ch.Name); err != nil {
				return fmt.Errorf("removing %s: %w", ch.Name, err)
			}
		case Unchanged:
			s.svcs[ch.Name].adopt = true
		}
	}

	stop := make(chan struct{})
	var stopOnce sync.Once
	requestStop := func() { stopOnce.Do(func() { close(stop) }) }
	ctl, err := s.serveControl(requestStop)
	if err != nil {
		return err
	}
	defer ctl.Close()

	s.mu.Lock()
	for _, n := range s.order {
		s.svcs[n].want = true
	}
	s.notifyLocked(nil)
	s.mu.Unlock()
	for _, n := range s.order {
		go s.loop(runCtx, s.svcs[n])
	}

	select {
	case <-ctx.Done():
	case <-stop:
	case <-s.leave:
		// Every loop ends without stopping its container; the state
		// keeps their last states for the supervisor that adopts them.
		for _, n := range s.order {
			<-s.svcs[n].done
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.notifyLocked(nil)
		return s.snapErr
	}
	s.log.Info("stopping services in reverse dependency order")
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	for i := len(s.order) - 1; i >= 0; i-- {
		// Stop a whole dependency layer at once, deepest first.
		layer := s.layerOf(s.order[i])
		var names []string
		for ; i >= 0 && s.layerOf(s.order[i]) == layer; i-- {
			names = append(names, s.order[i])
		}
		i++
		s.mu.Lock()
		for _, n := range names {
			s.svcs[n].want = false
		}
		s.notifyLocked(nil)
		s.mu.Unlock()
		for _, n := range names {
			<-s.svcs[n].done
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notifyLocked(nil)
	return s.snapErr
}

func (s *Supervisor) layerOf(name string) int {
	for i, l := range s.cfg.Spec.Layers() {
		for _, n := range l {
			if n == name {
				return i
			}
		}
	}
	return -1
}

// forceKillTimeout bounds each `kill` Force sends.
const forceKillTimeout = 30 * time.Second

// Force cuts the grace short (a second Ctrl-C): containers being stopped
// are killed now, and every later stop kills at once (stop -t 0). It does
// not itself start a shutdown.
func (s *Supervisor) Force() {
	s.mu.Lock()
	s.force = true
	var stopping []string
	for _, n := range s.order {
		if s.svcs[n].st.State == Stopping {
			stopping = append(stopping, n)
		}
	}
	s.mu.Unlock()
	s.log.Info("forcing the stop: killing containers", "services", stopping)
	ctx, cancel := context.WithTimeout(context.Background(), forceKillTimeout)
	defer cancel()
	for _, n := range stopping {
		// The `stop` waiting out the grace returns once the container is
		// gone; an error here means it already is.
		if err := s.cfg.Engine.KillContainer(ctx, n, "KILL"); err != nil {
			s.log.Info("killing container", "service", n, "err", err)
		}
	}
}

// Leave makes Run return without stopping any container: the engine
// CLIs that follow the containers are killed (nothing is forwarded to a
// container), pre-start steps are cut short, and the lock and control
// socket are released. A later supervisor of the same project and file
// adopts every container still running and unchanged (plan: unchanged),
// so none is restarted. The daemon calls it when it shuts down.
func (s *Supervisor) Leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leaving {
		return
	}
	s.leaving, s.stopping = true, true
	close(s.leave)
	s.notifyLocked(nil)
}

// Status returns the state of every supervised service, in start order.
func (s *Supervisor) Status() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statusLocked()
}

func (s *Supervisor) statusLocked() []Status {
	out := make([]Status, 0, len(s.order))
	for _, n := range s.order {
		out = append(out, s.svcs[n].st)
	}
	return out
}

// Restart stops name's container (and so its dependents) and starts it
// again at once; a failed service gets a fresh start limit.
func (s *Supervisor) Restart(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.svcs[name]
	if !ok {
		return fmt.Errorf("%s is not supervised here (supervised: %s)", name, strings.Join(s.order, ", "))
	}
	v.restart = true
	s.notifyLocked(nil)
	return nil
}

// notifyLocked records a state change of v (nil: none), wakes every
// waiting loop, and rewrites state.json.
func (s *Supervisor) notifyLocked(v *svc) {
	close(s.changed)
	s.changed = make(chan struct{})
	snap := &Snapshot{Pid: os.Getpid(), Supervisor: s.cfg.Supervisor, Project: s.cfg.Project, SpecFile: s.cfg.Spec.Path, Backend: s.cfg.Spec.Backend,
		Started: s.started, Updated: time.Now(), Services: s.statusLocked()}
	if err := writeSnapshot(s.cfg.StateDir, snap); err != nil && s.snapErr == nil {
		s.snapErr = fmt.Errorf("writing state: %w", err)
	}
	if v != nil && s.cfg.OnChange != nil {
		s.cfg.OnChange(v.st)
	}
}

// setLocked moves v to state st, keeping what the state does not reset.
// edit, when given, fills state-specific fields before anyone sees them.
func (s *Supervisor) setLocked(v *svc, st State, reason string, edit ...func(*Status)) {
	prev := v.st
	v.st = Status{Name: v.name, State: st, Since: time.Now(), Reason: reason,
		LastExitCode: prev.LastExitCode, LastError: prev.LastError, LastErrorLine: prev.LastErrorLine, Restarts: prev.Restarts}
	if st == Stopping {
		v.st.Health = prev.Health
	}
	if st == Backoff || st == Failed || st == Stopped {
		v.st.LastLog = v.log.lastLines()
	}
	for _, e := range edit {
		e(&v.st)
	}
	s.log.Info("service state", "service", v.name, "state", st, "reason", reason)
	v.log.note("state %s %s", st, reason)
	s.notifyLocked(v)
}

// activeDependentsLocked reports whether a supervised dependent of v
// still has a container (starting, running or stopping).
func (s *Supervisor) activeDependentsLocked(v *svc) bool {
	for _, d := range s.cfg.Spec.Dependents(v.name) {
		if dv, ok := s.svcs[d]; ok {
			switch dv.st.State {
			case Starting, Running, Unhealthy, Stopping:
				return true
			}
		}
	}
	return false
}

// waitLocked waits (unlocking meanwhile) for the next state change or
// until timeout (0: none). It returns with s.mu held.
func (s *Supervisor) waitLocked(timeout time.Duration) {
	ch := s.changed
	s.mu.Unlock()
	if timeout > 0 {
		t := time.NewTimer(timeout)
		select {
		case <-ch:
		case <-t.C:
		}
		t.Stop()
	} else {
		<-ch
	}
	s.mu.Lock()
}

// loop is one service's life: wait for dependencies, pre-start, run,
// watch, and after an exit restart with backoff or give up.
func (s *Supervisor) loop(ctx context.Context, v *svc) {
	defer close(v.done)
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.leaving {
			return
		}
		if !v.want {
			if v.st.State != Stopped {
				s.setLocked(v, Stopped, "")
			}
			return
		}
		if v.restart {
			v.restart, v.fails, v.backoff = false, nil, 0
		}
		if missing := s.unmetDepsLocked(v, true); len(missing) > 0 {
			if v.st.State != Waiting || v.st.Reason != "waiting for "+strings.Join(missing, ", ") {
				s.setLocked(v, Waiting, "waiting for "+strings.Join(missing, ", "))
			}
			s.waitLocked(0)
			continue
		}
		if s.stopping {
			s.waitLocked(0)
			continue
		}
		adopt := v.adopt
		v.adopt = false
		v.completed, v.checked, v.unhealthy = false, false, false
		if adopt {
			s.setLocked(v, Starting, "adopting the running container (plan: unchanged)")
		} else {
			s.setLocked(v, Starting, "")
		}
		s.mu.Unlock()
		code, err, planned := s.runOnce(ctx, v, adopt)
		s.mu.Lock()
		if planned {
			continue
		}
		// An exit nobody asked for: the restart policy decides.
		if code >= 0 {
			c := code
			v.st.LastExitCode = &c
		} else {
			v.st.LastExitCode = nil
		}
		v.st.LastError, v.st.LastErrorLine = "", ""
		// 125: the engine could not run the container at all (no such
		// image, bad flag); say why rather than just the code.
		if err != nil && (code < 0 || code == 125) {
			v.st.LastError, v.st.LastErrorLine = err.Error(), ErrorLine(err)
			if code == 125 {
				noteEngineCommand(v.log, err)
			}
		}
		if !v.want {
			continue
		}
		if errors.Is(err, errUnhealthy) && v.c.OnUnhealthy == "stop" {
			s.setLocked(v, Stopped, fmt.Sprintf("stopped: unhealthy (onUnhealthy: stop); `berth services restart %s` starts it again", v.name))
			for v.want && !v.restart && !s.leaving {
				s.waitLocked(0)
			}
			continue
		}
		if v.c.Restart == "no" || (v.c.Restart == "on-failure" && code == 0 && err == nil) {
			v.completed = code == 0 && err == nil
			why := fmt.Sprintf("exited with %d", code)
			if errors.Is(err, errUnhealthy) {
				why = "stopped: unhealthy (onUnhealthy: restart)"
			}
			s.setLocked(v, Stopped, fmt.Sprintf("%s; restart=%s", why, v.c.Restart))
			for v.want && !v.restart && !s.leaving {
				s.waitLocked(0)
			}
			continue
		}
		now := time.Now()
		if !v.procAt.IsZero() && now.Sub(v.procAt) >= v.c.RestartBackoff.ResetAfter.D() {
			v.backoff = 0
		}
		window := v.c.StartLimit.Interval.D()
		kept := v.fails[:0]
		for _, t := range v.fails {
			if now.Sub(t) < window {
				kept = append(kept, t)
			}
		}
		v.fails = append(kept, now)
		if len(v.fails) >= v.c.StartLimit.Burst {
			s.setLocked(v, Failed, fmt.Sprintf("start limit hit: %d exits within %s; `berth services restart %s` tries again",
				len(v.fails), window, v.name))
			for v.want && !v.restart && !s.leaving {
				s.waitLocked(0)
			}
			continue
		}
		v.backoff++
		delay := v.c.RestartBackoff.Initial.D()
		for i := 1; i < v.backoff && delay < v.c.RestartBackoff.Max.D(); i++ {
			delay *= 2
		}
		delay = min(delay, v.c.RestartBackoff.Max.D())
		v.st.Restarts++
		s.setLocked(v, Backoff, fmt.Sprintf("exit %s; restarting in %s", exitText(code, err), delay), func(st *Status) {
			st.Attempt, st.NextTry = v.backoff, now.Add(delay)
		})
		for v.want && !v.restart && !s.leaving && time.Now().Before(v.st.NextTry) {
			s.waitLocked(time.Until(v.st.NextTry))
		}
	}
}

func exitText(code int, err error) string {
	if errors.Is(err, errUnhealthy) {
		return "unhealthy (onUnhealthy: restart)"
	}
	if code >= 0 {
		return fmt.Sprint(code)
	}
	if err != nil {
		return "error: " + ErrorLine(err)
	}
	return "unknown"
}

// runOnce runs pre-start and the container (or attaches to the adopted
// one) until it exits or is stopped on purpose. code is the container's
// exit status (-1 when it never ran); planned is true when berth stopped
// it (shutdown, restart request, a dependency gone).
func (s *Supervisor) runOnce(ctx context.Context, v *svc, adopt bool) (code int, err error, planned bool) {
	eng := s.cfg.Engine
	var args []string
	var envFile string
	if adopt {
		args = []string{"attach", "--no-stdin", "--sig-proxy=false", v.name}
	} else {
		// Pre-start (hooks, login, loads) is cut short when the service
		// is no longer wanted: a hanging hook must not hold up a shutdown.
		pctx, cancelPre := context.WithCancel(ctx)
		go s.cancelWhenUnwanted(pctx, v, cancelPre)
		err := preStart(pctx, eng, s.cfg.Spec, s.cfg.Project, v.name, s.stepper(v))
		cancelPre()
		if err != nil {
			s.mu.Lock()
			planned := !v.want || v.restart || s.leaving
			s.mu.Unlock()
			v.log.note("%v", err)
			if planned {
				return -1, nil, true
			}
			return -1, err, false
		}
		ro := spec.RunOptions{Backend: s.cfg.Spec.Backend, Mode: spec.Supervised,
			NoJournald: s.cfg.NoJournald,
			Labels:     map[string]string{LabelProject: s.cfg.Project, LabelService: v.name, LabelHash: v.hash}}
		envFile, err = s.writeEnvFile(v)
		if err != nil {
			return -1, err, false
		}
		if envFile != "" {
			defer os.Remove(envFile)
			ro.EnvFile = envFile
		}
		args = spec.RunArgs(v.name, v.c, ro)
		// A signal to the CLI (systemd's KillMode=control-group sends
		// SIGTERM to every process of a stopping berth unit) must not
		// reach the container: berth stops containers with `stop`. Not
		// part of RunArgs, so the spec hash of running containers stays.
		i := len(v.c.PreRunExtraOptions)
		args = append(args[:i+1:i+1], append([]string{"--sig-proxy=false"}, args[i+1:]...)...)
	}
	stopProgress := func() {}
	if !adopt {
		stopProgress = s.announceRun(ctx, v)
	}
	proc, err := eng.Start(ctx, args, engine.StartOpts{Stdout: v.log, Stderr: v.log})
	if err != nil {
		stopProgress()
		noteEngineCommand(v.log, err)
		return -1, err, false
	}
	defer stopProgress()
	v.procAt = time.Now()
	exited := make(chan error, 1)
	go func() { exited <- proc.Wait() }()

	// The health check is followed while the container runs.
	hctx, stopHealth := context.WithCancel(ctx)
	defer stopHealth()

	// starting -> running once the engine says the container runs.
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	var exitErr error
	running := false
	for !running {
		select {
		case exitErr = <-exited:
			if s.detached(ctx, v, exitErr) {
				return -1, nil, true
			}
			s.removeExited(ctx, v)
			return exitCode(exitErr), exitErr, false
		case <-tick.C:
			info, ierr := eng.InspectContainer(ctx, v.name)
			if ierr == nil && info.Running {
				running = true
				stopProgress()
				if envFile != "" {
					// The CLI read it before it created the container.
					os.Remove(envFile)
				}
				s.mu.Lock()
				s.setLocked(v, Running, "", func(st *Status) {
					st.ContainerID, st.Pid = shortID(info.ID), info.Pid
					// An adopted container has run since it started, not
					// since this supervisor found it.
					if adopt && !info.StartedAt.IsZero() && info.StartedAt.Before(st.Since) {
						st.Since = info.StartedAt
					}
				})
				s.mu.Unlock()
				go func() {
					s.watchHealth(hctx, v)
					s.mu.Lock()
					if hctx.Err() == nil && !v.checked {
						v.checked = true
						s.notifyLocked(nil)
					}
					s.mu.Unlock()
				}()
			}
		}
		s.mu.Lock()
		stopNow := !v.want || v.restart || s.leaving
		s.mu.Unlock()
		if stopNow {
			break
		}
	}
	for {
		s.mu.Lock()
		ch := s.changed
		reason := ""
		leaving := s.leaving
		switch {
		case leaving:
		case !v.want:
			reason = "shutting down"
		case v.restart:
			reason = "restart requested"
		case v.unhealthy:
			reason = "unhealthy (onUnhealthy: " + v.c.OnUnhealthy + ")"
		default:
			if missing := s.unmetDepsLocked(v, false); len(missing) > 0 {
				reason = "dependency " + strings.Join(missing, ", ") + " stopped (Requires=)"
			}
		}
		unhealthy := v.unhealthy && v.want && !v.restart
		s.mu.Unlock()
		if leaving {
			// Kill the CLI, not the container: SIGKILL is not forwarded.
			stopHealth()
			proc.Signal(syscall.SIGKILL)
			<-exited
			return -1, nil, true
		}
		if reason != "" {
			// Leaving running makes the dependents stop (Requires=); wait
			// for them before stopping this container, as systemd does.
			s.mu.Lock()
			s.setLocked(v, Stopping, reason)
			for s.activeDependentsLocked(v) {
				s.waitLocked(0)
			}
			s.mu.Unlock()
			stopHealth()
			s.stopUntilExited(ctx, v, proc, exited)
			if unhealthy {
				// Not planned: the restart policy (or onUnhealthy stop) decides.
				return -1, errUnhealthy, false
			}
			s.mu.Lock()
			s.setLocked(v, Stopped, reason)
			s.mu.Unlock()
			return -1, nil, true
		}
		select {
		case exitErr = <-exited:
			if s.detached(ctx, v, exitErr) {
				return -1, nil, true
			}
			s.removeExited(ctx, v)
			return exitCode(exitErr), exitErr, false
		case <-ch:
		}
	}
}

// stepper reports v's start steps to its log and, while v is starting,
// as its state's detail.
func (s *Supervisor) stepper(v *svc) stepper {
	return stepper{log: v.log, every: s.cfg.ProgressInterval, set: func(detail string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if v.st.State != Starting || v.st.Reason == detail {
			return
		}
		v.st.Reason = detail
		s.log.Info("service step", "service", v.name, "step", detail)
		s.notifyLocked(v)
	}}
}

// announceRun says what `run` is about to do: pull the image (pull:
// always or newer, or missing when the engine does not have it; the
// engine pulls and its progress goes to the log), else create the
// container. A pull's detail counts its seconds until the container runs
// or the returned function is called.
func (s *Supervisor) announceRun(ctx context.Context, v *svc) (stop func()) {
	p := s.stepper(v)
	why := ""
	switch v.c.Pull {
	case "always", "newer":
		why = "pull: " + v.c.Pull
	case "missing":
		if ok, err := s.cfg.Engine.ImageExists(ctx, v.c.Image); err == nil && !ok {
			why = "the engine does not have it"
		}
	}
	if why == "" {
		p.step("creating the container from %s", v.c.Image)
		return func() {}
	}
	p.step("pulling image %s (%s; the engine's progress is in the log)", v.c.Image, why)
	return sync.OnceFunc(p.during(func(d time.Duration) string {
		return fmt.Sprintf("pulling image %s (%s), %s so far; progress: berth services logs %s", v.c.Image, why, d, v.name)
	}))
}

// writeEnvFile writes v's environment to STATE_DIR/env/NAME.env (0600)
// for `run --env-file`, so that the values are not in the engine CLI's
// argv (ps). A value an env file cannot hold (a line break) stays on -e;
// "" means no file.
func (s *Supervisor) writeEnvFile(v *svc) (string, error) {
	if len(v.c.Environment) == 0 {
		return "", nil
	}
	content, err := spec.EnvFileContent(v.c)
	if err != nil {
		v.log.note("environment passed with -e (visible in ps): %v", err)
		return "", nil
	}
	dir := filepath.Join(s.cfg.StateDir, envDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("env file: %w", err)
	}
	path := filepath.Join(dir, v.name+".env")
	os.Remove(path) // a leftover of a killed berth: create it anew, 0600
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("env file: %w", err)
	}
	_, err = f.Write(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("env file: %w", err)
	}
	return path, nil
}

// cancelWhenUnwanted calls cancel once v is no longer wanted or a restart
// is requested, or returns when ctx is done.
func (s *Supervisor) cancelWhenUnwanted(ctx context.Context, v *svc, cancel context.CancelFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ctx.Err() == nil {
		if !v.want || v.restart || s.leaving {
			cancel()
			return
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		s.mu.Lock()
	}
}

// stopUntilExited stops v's container until its `run` process exits. The
// container may not exist yet when `run` is still creating it, so stop is
// retried; after a minute of that the CLI process is killed.
func (s *Supervisor) stopUntilExited(ctx context.Context, v *svc, proc *engine.Process, exited <-chan error) {
	for i := 0; ; i++ {
		if err := s.stopContainer(ctx, v.name); err != nil {
			s.log.Warn("stopping container", "service", v.name, "err", err)
		}
		if i == 60 {
			proc.Signal(syscall.SIGKILL)
		}
		select {
		case <-exited:
			return
		case <-time.After(time.Second):
		}
	}
}

// detached reports whether the engine CLI following v's container ended
// while the container still runs (the CLI was signalled: systemd sends
// SIGTERM to every process of a stopping berth unit, and docker's CLI
// then exits 0; or it was OOM-killed). Then v attaches to the container
// again (as to an adopted one) instead of removing and restarting it.
// The CLI's exit status cannot tell: it is the container's only when
// the container ended.
func (s *Supervisor) detached(ctx context.Context, v *svc, exitErr error) bool {
	info, err := s.cfg.Engine.InspectContainer(ctx, v.name)
	if err != nil || !info.Running || info.Labels[LabelHash] != v.hash {
		return false
	}
	v.log.note("the engine command following the container ended (%v), but the container runs: attaching to it again", exitErr)
	s.mu.Lock()
	v.adopt = true
	s.mu.Unlock()
	return true
}

// removeExited is NixOS's ExecStopPost after an exit nobody asked for:
// without --rm (autoRemoveOnStop false) the exited container would
// otherwise outlive berth.
func (s *Supervisor) removeExited(ctx context.Context, v *svc) {
	if err := s.cfg.Engine.RemoveContainer(ctx, v.name, true); err != nil {
		s.log.Warn("removing exited container", "service", v.name, "err", err)
	}
}

// stopContainer is NixOS's ExecStop + ExecStopPost: `stop NAME` with the
// container's own grace (stopTimeout went to `run --stop-timeout`; else
// the engine's default), then rm -f. After Force, stop -t 0.
func (s *Supervisor) stopContainer(ctx context.Context, name string) error {
	timeout := engine.DefaultGrace
	s.mu.Lock()
	if s.force {
		timeout = 0
	}
	s.mu.Unlock()
	err := s.cfg.Engine.StopContainer(ctx, name, timeout)
	return errors.Join(err, s.cfg.Engine.RemoveContainer(ctx, name, true))
}

// exitCode is the container's exit status from `run`/`attach`'s error.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var e *engine.Error
	if errors.As(err, &e) && e.ExitCode >= 0 {
		return e.ExitCode
	}
	return -1
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// StateDir returns the state directory the supervisor publishes to.
func (s *Supervisor) StateDir() string { return s.cfg.StateDir }
