package svcmgr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/service"
	"github.com/berth-dev/berth/service/spec"
)

// PutRequest hands a services file to the daemon.
type PutRequest struct {
	// File is the file's absolute path on the daemon's machine: it names
	// the file in errors and anchors the relative paths in it.
	File string `json:"file"`
	// Spec is the file's text.
	Spec    string   `json:"spec"`
	Names   []string `json:"names,omitempty"`
	Replace bool     `json:"replace,omitempty"`
}

// meta is DATA_DIR/services/PROJECT/meta.json; the text is services.yaml
// beside it.
type meta struct {
	Project string    `json:"project"`
	File    string    `json:"file"`
	Names   []string  `json:"names,omitempty"`
	Replace bool      `json:"replace,omitempty"`
	Updated time.Time `json:"updated"`
}

const (
	specName = "services.yaml"
	metaName = "meta.json"
)

func (m *Manager) persistDir(project string) string {
	return filepath.Join(m.cfg.DataDir, "services", project)
}

// Put parses req as the file req.File, keeps it and supervises it as
// project: a new supervisor, or one replacing the daemon's earlier
// supervisor of a file handed over for project (it leaves the containers
// running, so the new one adopts those that did not change). created is
// true for a project the daemon did not supervise.
func (m *Manager) Put(ctx context.Context, name string, req PutRequest) (view Project, created bool, err error) {
	if !ValidProject(name) {
		return Project{}, false, kindf(ErrInvalid, "project: %q is not a project name (letters, digits, '_', '.', '-', starting with a letter or digit)", name)
	}
	if req.File == "" || !filepath.IsAbs(req.File) {
		return Project{}, false, kindf(ErrInvalid, "file: %q is not an absolute path: give the services file's path on the daemon's machine (relative paths in it resolve against its directory)", req.File)
	}
	req.File = filepath.Clean(req.File)
	m.ops.Lock()
	defer m.ops.Unlock()
	m.mu.Lock()
	old := m.projects[name]
	closed := m.closed
	var oldSource Source
	var oldSup *service.Supervisor
	var oldDone chan struct{}
	stateDir := m.cfg.StateDir(name)
	var oldIndex int
	var oldFile string
	if old != nil {
		oldSource, oldIndex, oldFile, stateDir = old.source, old.index, old.entry.File, old.stateDir
		if old.sup != nil && old.state == Running {
			oldSup, oldDone = old.sup, old.done
		}
	}
	m.mu.Unlock()
	if closed {
		return Project{}, false, kindf(ErrConflict, "the daemon is stopping")
	}
	if old != nil && oldSource == SourceConfig {
		return Project{}, false, kindf(ErrConflict, "project %q is declared in berth.yaml (services[%d], %s): change it there, or hand the file over under another project", name, oldIndex, oldFile)
	}
	if oldSup == nil {
		if h := service.Holder(stateDir); h != nil {
			return Project{}, false, kindf(ErrConflict, "project %q is %s: stop it first (berth services down --project %s)", name, heldText(h), name)
		}
	}
	sf, err := spec.Parse(req.File, []byte(req.Spec))
	if err != nil {
		return Project{}, false, &kindError{ErrInvalid, err}
	}
	p := &project{name: name, entry: Entry{File: req.File, Project: name, Names: req.Names, Replace: req.Replace},
		source: SourceAPI, stateDir: stateDir, spec: sf, since: time.Now()}
	m.applyReplace(p)
	// What the supervisor would refuse (unknown names, podman.user) is
	// refused before anything is kept.
	if _, err := service.New(service.Config{Spec: sf, Engine: m.cfg.Engine(sf.Backend), StateDir: stateDir, Project: name, Names: req.Names}); err != nil {
		return Project{}, false, &kindError{ErrInvalid, err}
	}
	// A container of a declared name that berth did not create for the
	// project blocks the start: say so now, and keep nothing. An engine
	// that does not answer is left to the supervisor to report.
	if plan, err := service.ComputePlan(ctx, m.cfg.Engine(sf.Backend), sf, name, req.Names); err == nil {
		if err := plan.Conflicts(); err != nil {
			return Project{}, false, &kindError{ErrConflict, err}
		}
	}
	if err := m.persist(name, req); err != nil {
		return Project{}, false, err
	}
	if oldSup != nil {
		m.mu.Lock()
		old.leaving = true
		m.mu.Unlock()
		oldSup.Leave()
		<-oldDone
	}
	m.mu.Lock()
	m.projects[name] = p
	m.mu.Unlock()
	m.start(p)
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.viewLocked(p), old == nil, nil
}

// persist writes the handed-over file and its meta data atomically, both
// 0600 (a services file may hold environment values).
func (m *Manager) persist(name string, req PutRequest) error {
	dir := m.persistDir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keeping the services file: %w", err)
	}
	data, err := json.MarshalIndent(meta{Project: name, File: req.File, Names: req.Names, Replace: req.Replace, Updated: time.Now().UTC()}, "", "  ")
	if err != nil {
		return err
	}
	// The text first: a meta.json always has its file.
	if err := writeAtomic(filepath.Join(dir, specName), []byte(req.Spec)); err != nil {
		return fmt.Errorf("keeping the services file: %w", err)
	}
	if err := writeAtomic(filepath.Join(dir, metaName), append(data, '\n')); err != nil {
		return fmt.Errorf("keeping the services file: %w", err)
	}
	return nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// forget removes a handed-over file (its state directory stays: the
// logs are still worth reading).
func (m *Manager) forget(name string) error {
	dir := m.persistDir(name)
	err := errors.Join(os.Remove(filepath.Join(dir, metaName)), ignoreMissing(os.Remove(filepath.Join(dir, specName))))
	os.Remove(dir) // when empty: a state directory under it stays
	return err
}

func ignoreMissing(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// loadPersisted reads the files handed over before, sorted by project.
func (m *Manager) loadPersisted() []*project {
	root := filepath.Join(m.cfg.DataDir, "services")
	entries, err := os.ReadDir(root)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			m.log.Error("reading the handed-over services files", "dir", root, "err", err)
		}
		return nil
	}
	var out []*project
	for _, e := range entries {
		if !e.IsDir() || !ValidProject(e.Name()) {
			continue
		}
		dir := filepath.Join(root, e.Name())
		raw, err := os.ReadFile(filepath.Join(dir, metaName))
		if errors.Is(err, os.ErrNotExist) {
			continue // forgotten; the state directory may be here
		}
		p := &project{name: e.Name(), source: SourceAPI, since: time.Now(), stateDir: m.cfg.StateDir(e.Name())}
		out = append(out, p)
		var md meta
		if err == nil {
			err = json.Unmarshal(raw, &md)
		}
		if err != nil {
			p.state, p.err = Failed, fmt.Sprintf("reading %s: %v", filepath.Join(dir, metaName), err)
			continue
		}
		p.entry = Entry{File: md.File, Project: p.name, Names: md.Names, Replace: md.Replace}
		text, err := os.ReadFile(filepath.Join(dir, specName))
		if err == nil {
			p.spec, err = spec.Parse(md.File, text)
		}
		if err != nil {
			p.state, p.err = Failed, err.Error()
			m.log.Error("handed-over services file not supervised", "project", p.name, "err", err)
			continue
		}
		m.applyReplace(p)
	}
	return out
}

// DownResult is what Down stopped and removed: the project as it was
// stopped (its services with their last states), and what went.
type DownResult struct {
	Project
	// Stopped are the services the supervisor stopped (in its order).
	Stopped []string `json:"stopped"`
	// Removed are containers of the project still there afterwards
	// (left by an earlier supervisor), stopped and removed.
	Removed []string `json:"removed"`
	// Networks are the networks berth had created for the project.
	Networks []string `json:"networks"`
	// Forgotten: the handed-over file is no longer kept (source api).
	Forgotten bool `json:"forgotten"`
	// Note says what happens next.
	Note string `json:"note"`
}

// Down stops everything of project: its supervisor's services in
// reverse dependency order, then every container still labelled with
// the project and the networks berth created for it. A handed-over file
// is forgotten; a berth.yaml project stays stopped until the daemon
// restarts.
func (m *Manager) Down(ctx context.Context, name string) (DownResult, error) {
	m.ops.Lock()
	defer m.ops.Unlock()
	m.mu.Lock()
	p, ok := m.projects[name]
	if !ok {
		err := m.notFoundLocked(name)
		m.mu.Unlock()
		return DownResult{}, err
	}
	if p.state == Held {
		m.mu.Unlock()
		return DownResult{}, kindf(ErrConflict, "project %q is %s: stop that one (berth services down --project %s)", name, p.err, name)
	}
	res := DownResult{Project: m.viewLocked(p), Stopped: []string{}}
	sup, done := p.sup, p.done
	running := sup != nil && p.state == Running
	if running {
		p.downing = true
		for _, st := range sup.Status() {
			if st.State != service.Stopped || st.ContainerID != "" {
				res.Stopped = append(res.Stopped, st.Name)
			}
		}
	}
	m.mu.Unlock()
	if running {
		p.cancel()
		select {
		case <-done:
		case <-ctx.Done():
			return res, fmt.Errorf("waiting for the services of %s to stop: %w (they are still being stopped)", name, ctx.Err())
		}
	}
	eng := p.eng
	if eng == nil {
		eng = m.engineFor(p)
	}
	var errs []error
	if eng != nil {
		removed, err := service.RemoveProject(ctx, eng, p.spec, name)
		nets, nerr := service.RemoveNetworks(ctx, eng, name)
		res.Removed, res.Networks = nonNil(removed), nonNil(nets)
		errs = append(errs, err, nerr)
	} else {
		res.Removed, res.Networks = []string{}, []string{}
		res.Note = "the backend is unknown (the file could not be read and there is no state): nothing was removed; "
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if sup != nil {
		p.last = sup.Status()
	}
	p.sup, p.since = nil, time.Now()
	if p.source == SourceAPI {
		if err := m.forget(name); err != nil {
			errs = append(errs, fmt.Errorf("forgetting the services file: %w", err))
		}
		delete(m.projects, name)
		p.state, p.err = Stopped, "stopped by a down; the handed-over file is forgotten"
		res.Forgotten = true
		res.Note += "the handed-over file is forgotten: the daemon no longer supervises the project"
	} else {
		p.state, p.err = Stopped, "stopped by a down; it starts again when the daemon restarts"
		res.Note += "the project is declared in berth.yaml: it stays stopped until the daemon restarts"
	}
	res.Project = m.viewLocked(p)
	return res, errors.Join(errs...)
}

// engineFor is the engine of a project without a parsed file: the
// backend of its state, if any.
func (m *Manager) engineFor(p *project) *engine.Client {
	if p.spec != nil {
		return m.cfg.Engine(p.spec.Backend)
	}
	if snap, err := service.ReadSnapshot(p.stateDir); err == nil && snap.Backend != "" {
		return m.cfg.Engine(snap.Backend)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Restart restarts service svc of project (its dependents stop first and
// follow); a failed service gets a fresh start limit.
func (m *Manager) Restart(name, svc string) error {
	m.mu.Lock()
	p, ok := m.projects[name]
	if !ok {
		err := m.notFoundLocked(name)
		m.mu.Unlock()
		return err
	}
	sup, state, why := p.sup, p.state, p.err
	m.mu.Unlock()
	if state == Held {
		// The holder answers on its control socket, as for the CLI.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := service.Control(ctx, p.stateDir, "restart", svc); err != nil {
			return kindf(ErrConflict, "%s: %v", why, err)
		}
		return nil
	}
	if sup == nil || state != Running {
		return kindf(ErrConflict, "project %q is %s, not running: %s", name, state, why)
	}
	if err := sup.Restart(svc); err != nil {
		return &kindError{ErrNotFound, err}
	}
	return nil
}

// LogNames returns project's state directory and the services whose
// logs `logs` shows: svc, or without it every service of the project
// (those of its state, else every log in the state directory).
func (m *Manager) LogNames(name, svc string) (stateDir string, names []string, err error) {
	v, err := m.Get(name)
	if err != nil {
		return "", nil, err
	}
	if svc != "" {
		return v.StateDir, []string{svc}, nil
	}
	for _, st := range v.Services {
		names = append(names, st.Name)
	}
	if len(names) == 0 {
		if names, err = service.LogNames(v.StateDir); err != nil {
			return "", nil, err
		}
	}
	if len(names) == 0 {
		return "", nil, kindf(ErrNotFound, "project %q has no logs in %s yet", name, v.StateDir)
	}
	return v.StateDir, names, nil
}

// Logs gives emit the lines of project's logs (see LogNames), merged by
// time as `berth services logs` does. tail < 0 is all of each log.
func (m *Manager) Logs(ctx context.Context, name, svc string, tail int, emit func(service.LogLine) error) error {
	dir, names, err := m.LogNames(name, svc)
	if err != nil {
		return err
	}
	err = service.Logs(ctx, dir, names, service.LogOptions{Tail: tail}, emit)
	if errors.Is(err, service.ErrNoLog) {
		return &kindError{ErrNotFound, err}
	}
	return err
}
