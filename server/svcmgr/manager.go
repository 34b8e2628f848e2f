package svcmgr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/service"
	"github.com/berth-dev/berth/service/spec"
)

// Source says where the daemon got a project's services file.
type Source string

// The sources of a project.
const (
	SourceConfig Source = "config" // berth.yaml's services:
	SourceAPI    Source = "api"    // PUT /v1/services/{project}
)

// State is where a project's supervisor is.
type State string

// The states of a project.
const (
	Running State = "running" // the daemon's supervisor runs
	Failed  State = "failed"  // it could not start, or ended with an error
	Held    State = "held"    // another supervisor holds the state directory
	Stopped State = "stopped" // stopped by a down; nothing runs
)

// Entry is a services file to supervise.
type Entry struct {
	// File is the services file's absolute path: relative paths in it
	// resolve against its directory.
	File string
	// Project names the project; empty: the file's project: key, else
	// "default" (as `berth services up` decides).
	Project string
	// Names limits the supervision to these containers and their
	// dependencies; empty: every autoStart container.
	Names []string
	// Replace is `up --replace`: replace: true on every container.
	Replace bool
}

// Config is what a Manager needs.
type Config struct {
	// DataDir is the daemon's data dir: handed-over files are kept in
	// DataDir/services/PROJECT.
	DataDir string
	// Entries are berth.yaml's services: list, in its order.
	Entries []Entry
	Logger  *slog.Logger
	// Engine returns the engine client for a services file's backend
	// (docker or podman). Default: that binary from PATH, podman with
	// $BERTH_PODMAN_RUNTIME as its runtime, as `berth services` does.
	Engine func(backend string) *engine.Client
	// StateDir returns a project's state directory. Default:
	// service.DefaultStateDir for this process's user, else (a user
	// without XDG_RUNTIME_DIR) DataDir/services/PROJECT/state.
	StateDir func(project string) string
	// PollInterval is passed to every supervisor (0: its default).
	PollInterval time.Duration
	// HeldPoll is how often a held project is checked for its holder
	// being gone (default 2s).
	HeldPoll time.Duration
}

// Project is what the daemon reports of one project.
type Project struct {
	Project  string   `json:"project"`
	File     string   `json:"file"`
	Source   Source   `json:"source"`
	StateDir string   `json:"stateDir"`
	State    State    `json:"state"`
	Error    string   `json:"error,omitempty"`
	Names    []string `json:"names,omitempty"`
	Replace  bool     `json:"replace,omitempty"`
	// HeldBy is the pid of the supervisor holding the state directory
	// (state held), when known.
	HeldBy int       `json:"heldBy,omitempty"`
	Since  time.Time `json:"since"`
	// Services are the supervisor's services (for a held project those
	// its holder published in state.json; for a stopped or failed one
	// the last known states).
	Services []service.Status `json:"services"`
}

// The kinds of error a caller branches on (errors.Is).
var (
	ErrNotFound = errors.New("no such project")
	ErrConflict = errors.New("conflict")
	ErrInvalid  = errors.New("invalid request")
)

type kindError struct{ kind, err error }

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

func kindf(kind error, format string, args ...any) error {
	return &kindError{kind, fmt.Errorf(format, args...)}
}

// project is one supervised services file.
type project struct {
	name     string
	entry    Entry
	source   Source
	index    int // the entry's position in services: (config)
	stateDir string
	spec     *spec.File
	eng      *engine.Client

	state   State
	err     string
	heldBy  int
	since   time.Time
	last    []service.Status
	sup     *service.Supervisor
	cancel  context.CancelFunc
	done    chan struct{}
	leaving bool // we called Leave: Run's end is no down
	downing bool // our down: Down handles Run's end
	// retryAt is when a project whose supervisor failed (not its file)
	// is started again; zero: never. retryDelay doubles each time.
	retryAt    time.Time
	retryDelay time.Duration
}

// The delays before a failed supervisor is started again: an engine
// that was not up yet (a daemon started before dockerd) may be now.
const (
	retryFirst = 5 * time.Second
	retryMax   = 5 * time.Minute
)

// Manager runs the daemon's supervisors.
type Manager struct {
	cfg        Config
	log        *slog.Logger
	noJournald bool

	// ops serialises what changes projects: Start, Put, Down, Close and
	// taking up a held project.
	ops sync.Mutex
	// mu guards projects, rejected, closed and every project's fields.
	mu       sync.Mutex
	projects map[string]*project
	rejected []Project // entries that could not be given a project
	closed   bool

	stopWatch context.CancelFunc
	watchDone chan struct{}
}

// New returns a manager; nothing starts before Start.
func New(cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{cfg: cfg, log: cfg.Logger, projects: map[string]*project{}, noJournald: !service.JournaldRunning()}
	if m.cfg.Engine == nil {
		runtime := os.Getenv("BERTH_PODMAN_RUNTIME")
		m.cfg.Engine = func(backend string) *engine.Client {
			return engine.New(backend, engine.WithRuntime(runtime), engine.WithLogger(m.log))
		}
	}
	if m.cfg.StateDir == nil {
		m.cfg.StateDir = func(p string) string {
			return DefaultStateDir(cfg.DataDir, p, os.Geteuid(), os.Getenv("XDG_RUNTIME_DIR"))
		}
	}
	if m.cfg.HeldPoll <= 0 {
		m.cfg.HeldPoll = 2 * time.Second
	}
	return m
}

// DefaultStateDir is the daemon's state directory of project: the one
// `berth services up` run by the same user would use
// (service.DefaultStateDir), else, for a user other than root without
// XDG_RUNTIME_DIR (a daemon running as its own system user),
// DATA_DIR/services/PROJECT/state.
func DefaultStateDir(dataDir, project string, euid int, xdgRuntimeDir string) string {
	if d, err := service.DefaultStateDir(project, euid, xdgRuntimeDir); err == nil {
		return d
	}
	return filepath.Join(dataDir, "services", project, "state")
}

var projectRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ValidProject reports whether name can be a project.
func ValidProject(name string) bool { return len(name) <= 128 && projectRE.MatchString(name) }

// Start starts a supervisor for every entry of berth.yaml and every file
// handed over earlier. A file or engine that fails makes its project
// failed, not Start: it returns once every supervisor has started (or
// failed), without waiting for containers.
func (m *Manager) Start(ctx context.Context) {
	m.ops.Lock()
	defer m.ops.Unlock()
	var toStart []*project
	declared := map[string]int{}
	for i, e := range m.cfg.Entries {
		p := &project{entry: e, source: SourceConfig, index: i, since: time.Now()}
		sf, err := spec.Load(e.File)
		p.spec = sf
		p.name = e.Project
		if p.name == "" {
			p.name = fileProject(e.File, sf)
		}
		p.stateDir = m.cfg.StateDir(p.name)
		if j, dup := declared[p.name]; dup {
			m.log.Error("services file not supervised: its project is another entry's", "file", e.File, "project", p.name, "entry", fmt.Sprintf("services[%d]", i))
			m.mu.Lock()
			m.rejected = append(m.rejected, Project{Project: p.name, File: e.File, Source: SourceConfig, State: Failed, Since: p.since,
				StateDir: p.stateDir, Services: []service.Status{},
				Error: fmt.Sprintf("services[%d]: project %q is already services[%d]'s (give this entry another project:)", i, p.name, j)})
			m.mu.Unlock()
			continue
		}
		declared[p.name] = i
		if err != nil {
			p.state, p.err = Failed, err.Error()
			m.log.Error("services file not supervised", "file", e.File, "project", p.name, "err", err)
		} else {
			m.applyReplace(p)
			toStart = append(toStart, p)
		}
		m.mu.Lock()
		m.projects[p.name] = p
		m.mu.Unlock()
	}
	for _, p := range m.loadPersisted() {
		if j, ok := declared[p.name]; ok {
			msg := fmt.Sprintf("project %q is declared in berth.yaml (services[%d]) now: the file handed over for it (%s) is not supervised; it stays in %s", p.name, j, p.entry.File, m.persistDir(p.name))
			m.log.Warn("handed-over services file not supervised", "project", p.name, "reason", msg)
			m.mu.Lock()
			m.rejected = append(m.rejected, Project{Project: p.name, File: p.entry.File, Source: SourceAPI, State: Failed, Since: p.since,
				StateDir: p.stateDir, Services: []service.Status{}, Error: msg})
			m.mu.Unlock()
			continue
		}
		m.mu.Lock()
		m.projects[p.name] = p
		m.mu.Unlock()
		if p.state != Failed {
			toStart = append(toStart, p)
		}
	}
	for _, p := range toStart {
		m.start(p)
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.stopWatch, m.watchDone = cancel, make(chan struct{})
	go m.watchHeld(wctx)
}

// fileProject is the project of a file given without one: its project:
// key (read leniently when the file is invalid), else "default".
func fileProject(path string, sf *spec.File) string {
	if sf != nil {
		if sf.Project != "" {
			return sf.Project
		}
		return "default"
	}
	var peek struct {
		Project string `yaml:"project"`
	}
	if data, err := os.ReadFile(path); err == nil && yaml.Unmarshal(data, &peek) == nil && ValidProject(peek.Project) {
		return peek.Project
	}
	return "default"
}

func (m *Manager) applyReplace(p *project) {
	if p.entry.Replace {
		for _, c := range p.spec.Containers {
			c.Replace = true
		}
	}
}

// start starts p's supervisor and returns once it has taken the state
// directory and computed its plan, or failed. The caller holds ops.
func (m *Manager) start(p *project) {
	log := m.log.With("project", p.name)
	m.mu.Lock()
	p.eng = m.cfg.Engine(p.spec.Backend)
	p.leaving, p.downing = false, false
	m.mu.Unlock()
	if h := service.Holder(p.stateDir); h != nil {
		m.setHeld(p, h)
		return
	}
	started := make(chan struct{})
	var once sync.Once
	sup, err := service.New(service.Config{
		Spec: p.spec, Engine: p.eng, StateDir: p.stateDir, Project: p.name, Names: p.entry.Names,
		Supervisor: service.SupervisorDaemon,
		NoJournald: m.noJournald, Logger: log, PollInterval: m.cfg.PollInterval,
		OnPlan: func(pl *service.Plan) {
			if pl.Conflicts() == nil {
				once.Do(func() { close(started) })
			}
		},
		// The supervisor logs each state change itself (Logger).
	})
	if err != nil {
		m.setFailed(p, err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	m.mu.Lock()
	p.sup, p.cancel, p.done = sup, cancel, done
	p.state, p.err, p.heldBy, p.since = Running, "", 0, time.Now()
	m.mu.Unlock()
	log.Info("supervising services file", "file", p.spec.Path, "state_dir", p.stateDir, "source", p.source)
	go func() {
		err := sup.Run(ctx)
		m.ended(p, sup, err)
		cancel()
		close(done)
	}()
	// A slow engine must not hold up the daemon's start: the supervisor
	// runs on (state running) and reports what it finds.
	select {
	case <-started:
	case <-done:
	case <-time.After(startWait):
		log.Warn("the supervisor has not planned yet; going on", "waited", startWait)
	}
}

// startWait bounds how long start waits for a supervisor's plan.
const startWait = 10 * time.Second

// ended records the end of sup's Run.
func (m *Manager) ended(p *project, sup *service.Supervisor, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p.sup != sup {
		return
	}
	p.last = sup.Status()
	ranFrom := p.since
	p.since = time.Now()
	var held *service.HeldError
	switch {
	case errors.As(err, &held):
		p.state, p.err, p.heldBy = Held, heldText(held), held.Pid
	case err != nil:
		if time.Since(ranFrom) > retryMax {
			p.retryDelay = 0 // it ran for a while: start again soon
		}
		p.retryDelay = min(max(2*p.retryDelay, retryFirst), retryMax)
		p.retryAt = time.Now().Add(p.retryDelay)
		p.state, p.err = Failed, err.Error()
		m.log.Error("supervisor failed", "project", p.name, "err", err, "retry_in", p.retryDelay)
	case p.leaving:
		p.state, p.err = Stopped, "left running: the daemon is stopping"
	case p.downing:
		// Down reports it.
	default:
		// `berth services down` asked the supervisor over its control
		// socket: the project is down as after DELETE.
		m.log.Info("project stopped by a down through its control socket", "project", p.name)
		p.state, p.err = Stopped, "stopped by `berth services down`"
		if p.source == SourceAPI {
			if err := m.forget(p.name); err != nil {
				m.log.Warn("forgetting the handed-over services file", "project", p.name, "err", err)
			}
			delete(m.projects, p.name)
		} else {
			p.err += "; it starts again when the daemon restarts"
		}
	}
}

func heldText(h *service.HeldError) string {
	if h.Pid != 0 {
		return fmt.Sprintf("held by another supervisor (pid %d) with state directory %s", h.Pid, h.StateDir)
	}
	return fmt.Sprintf("held by another supervisor with state directory %s", h.StateDir)
}

func (m *Manager) setHeld(p *project, h *service.HeldError) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p.state != Held {
		m.log.Warn("project held by another supervisor: not started", "project", p.name, "pid", h.Pid, "state_dir", p.stateDir)
	}
	p.state, p.err, p.heldBy, p.since, p.sup = Held, heldText(h), h.Pid, time.Now(), nil
}

func (m *Manager) setFailed(p *project, err error) {
	m.log.Error("supervisor failed", "project", p.name, "err", err)
	m.mu.Lock()
	defer m.mu.Unlock()
	// The file is refused as it is: starting it again would not help.
	p.state, p.err, p.since, p.sup, p.retryAt = Failed, err.Error(), time.Now(), nil, time.Time{}
}

// watchHeld takes up a held project once its holder is gone.
func (m *Manager) watchHeld(ctx context.Context) {
	defer close(m.watchDone)
	t := time.NewTicker(m.cfg.HeldPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.ops.Lock()
		m.mu.Lock()
		var free []*project
		var retry []*project
		for _, p := range m.projects {
			switch {
			case m.closed:
			case p.state == Held && !service.Locked(p.stateDir):
				free = append(free, p)
			case p.state == Failed && p.spec != nil && !p.retryAt.IsZero() && time.Now().After(p.retryAt):
				retry = append(retry, p)
			}
		}
		m.mu.Unlock()
		for _, p := range free {
			m.log.Info("the other supervisor is gone: supervising the project", "project", p.name)
			m.start(p)
		}
		for _, p := range retry {
			m.log.Info("starting the failed supervisor again", "project", p.name)
			m.start(p)
		}
		m.ops.Unlock()
	}
}

// Close leaves every container running (Supervisor.Leave) and waits for
// the supervisors to end; the next Start adopts the containers.
func (m *Manager) Close() {
	m.ops.Lock()
	defer m.ops.Unlock()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	var running []*project
	for _, p := range m.projects {
		if p.sup != nil && p.state == Running {
			p.leaving = true
			running = append(running, p)
		}
	}
	m.mu.Unlock()
	if m.stopWatch != nil {
		m.stopWatch()
		<-m.watchDone
	}
	for _, p := range running {
		p.sup.Leave()
	}
	for _, p := range running {
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			m.log.Error("a supervisor did not end within 30s of Leave", "project", p.name)
		}
	}
}

// List reports every project, sorted by name.
func (m *Manager) List() []Project {
	m.mu.Lock()
	names := make([]string, 0, len(m.projects))
	for n := range m.projects {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Project, 0, len(names)+len(m.rejected))
	for _, n := range names {
		out = append(out, m.viewLocked(m.projects[n]))
	}
	out = append(out, m.rejected...)
	m.mu.Unlock()
	return out
}

// Get reports one project.
func (m *Manager) Get(name string) (Project, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.projects[name]
	if !ok {
		return Project{}, m.notFoundLocked(name)
	}
	return m.viewLocked(p), nil
}

func (m *Manager) notFoundLocked(name string) error {
	known := make([]string, 0, len(m.projects))
	for n := range m.projects {
		known = append(known, n)
	}
	sort.Strings(known)
	return kindf(ErrNotFound, "the daemon supervises no project %q (supervised: %v)", name, known)
}

func (m *Manager) viewLocked(p *project) Project {
	v := Project{Project: p.name, File: p.entry.File, Source: p.source, StateDir: p.stateDir, State: p.state, Error: p.err,
		Names: p.entry.Names, Replace: p.entry.Replace, HeldBy: p.heldBy, Since: p.since}
	switch {
	case p.state == Running && p.sup != nil:
		v.Services = p.sup.Status()
	case p.state == Held:
		if snap, err := service.ReadSnapshot(p.stateDir); err == nil {
			v.Services = snap.Services
		}
	default:
		v.Services = slices.Clone(p.last)
	}
	if v.Services == nil {
		v.Services = []service.Status{}
	}
	return v
}
