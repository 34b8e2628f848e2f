package service

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/service/spec"
)

// Labels berth puts on the containers it starts.
const (
	LabelProject = "berth.project"
	LabelService = "berth.service"
	LabelHash    = "berth.spec-hash"
)

// Action is what `up` does to one container.
type Action string

// The plan actions.
const (
	Create    Action = "create"
	Recreate  Action = "recreate"
	Remove    Action = "remove"
	Unchanged Action = "unchanged"
	// Conflict: a container of that name exists that berth did not create
	// for this project; `up` refuses to start unless the container has
	// replace: true (or `up --replace`).
	Conflict Action = "conflict"
)

// StrangerError is a container that has the name of a declared one but
// was not created by berth for this project: berth leaves it alone.
type StrangerError struct {
	Name    string
	Project string // the project label it carries, "" if none
	Want    string // the project berth manages
}

func (e *StrangerError) Error() string {
	owner := "was not created by berth"
	if e.Project != "" {
		owner = "belongs to berth project " + e.Project
	}
	return fmt.Sprintf("container %s exists and %s, not to project %s: berth leaves it alone; remove or rename it, "+
		"or let berth replace it with `berth services up --replace` or `replace: true` on containers.%s", e.Name, owner, e.Want, e.Name)
}

// ConflictError lists the declared containers whose names strangers hold;
// `up` refuses to start any container while there is one.
type ConflictError struct{ Strangers []*StrangerError }

func (e *ConflictError) Error() string {
	msgs := make([]string, len(e.Strangers))
	for i, s := range e.Strangers {
		msgs[i] = s.Error()
	}
	return "nothing started: " + strings.Join(msgs, "; ")
}

// Conflicts returns the plan's conflicts as an error (nil: none).
func (p *Plan) Conflicts() error {
	var e ConflictError
	for _, ch := range p.Changes {
		if ch.Action == Conflict {
			e.Strangers = append(e.Strangers, ch.stranger)
		}
	}
	if len(e.Strangers) == 0 {
		return nil
	}
	return &e
}

// Change is one line of a plan.
type Change struct {
	Name    string `json:"name"`
	Action  Action `json:"action"`
	Reason  string `json:"reason,omitempty"`
	Hash    string `json:"hash,omitempty"`
	OldHash string `json:"oldHash,omitempty"`

	stranger *StrangerError
}

// Plan is what `up` would do against what runs now, in start order
// (removals last).
type Plan struct {
	Project string   `json:"project"`
	Changes []Change `json:"changes"`
}

// Selected returns the containers `up NAMES...` manages: the named ones,
// or when none are named every autoStart container, plus (transitively)
// what they depend on — as systemd's Requires= pulls units in.
func Selected(f *spec.File, names []string) ([]string, error) {
	if len(names) == 0 {
		for _, n := range f.Names() {
			if f.Containers[n].AutoStart {
				names = append(names, n)
			}
		}
	}
	sel := map[string]bool{}
	var add func(n string)
	add = func(n string) {
		if sel[n] {
			return
		}
		sel[n] = true
		for _, d := range f.Containers[n].DependsOn {
			add(d.Name)
		}
	}
	for _, n := range names {
		if _, ok := f.Containers[n]; !ok {
			return nil, fmt.Errorf("no container %q in %s (declared: %v)", n, f.Path, f.Names())
		}
		add(n)
	}
	var out []string
	for _, layer := range f.Layers() {
		for _, n := range layer {
			if sel[n] {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// ComputePlan compares the selected containers of f with the containers
// the engine has now. A container is recreated when it is missing a
// matching berth.spec-hash label, is not running, or a dependency is
// (re)created; containers labelled with project but no longer declared are
// removed.
func ComputePlan(ctx context.Context, eng *engine.Client, f *spec.File, project string, names []string) (*Plan, error) {
	sel, err := Selected(f, names)
	if err != nil {
		return nil, err
	}
	p := &Plan{Project: project}
	touched := map[string]bool{}
	for _, n := range sel {
		c := f.Containers[n]
		ch := Change{Name: n, Hash: spec.Hash(f.Backend, n, c)}
		info, err := eng.InspectContainer(ctx, n)
		switch {
		case errors.Is(err, engine.ErrNotFound):
			ch.Action, ch.Reason = Create, "no container "+n
		case err != nil:
			return nil, fmt.Errorf("planning %s: %w", n, err)
		default:
			ch.OldHash = info.Labels[LabelHash]
			switch {
			case info.Labels[LabelProject] != project && c.Replace:
				ch.Action, ch.Reason = Recreate, fmt.Sprintf("container %s exists, not of berth project %s: replacing it (replace)", n, project)
			case info.Labels[LabelProject] != project:
				ch.stranger = &StrangerError{Name: n, Project: info.Labels[LabelProject], Want: project}
				ch.Action, ch.Reason = Conflict, ch.stranger.Error()
			case ch.OldHash != ch.Hash:
				ch.Action, ch.Reason = Recreate, fmt.Sprintf("configuration changed (spec hash %s -> %s)", ch.OldHash, ch.Hash)
			case !info.Running:
				ch.Action, ch.Reason = Recreate, "container exists but is not running"
			default:
				for _, d := range c.DependsOn {
					if touched[d.Name] {
						ch.Action, ch.Reason = Recreate, "dependency "+d.Name+" is (re)created"
						break
					}
				}
				if ch.Action == "" {
					ch.Action = Unchanged
				}
			}
		}
		if ch.Action != Unchanged {
			touched[n] = true
		}
		p.Changes = append(p.Changes, ch)
	}
	existing, err := eng.ListContainers(ctx, LabelProject+"="+project)
	if err != nil {
		return nil, fmt.Errorf("listing containers of project %s: %w", project, err)
	}
	sort.Strings(existing)
	for _, n := range existing {
		if _, declared := f.Containers[n]; !declared {
			p.Changes = append(p.Changes, Change{Name: n, Action: Remove, Reason: "no longer declared"})
		}
	}
	return p, nil
}

// RemoveProject stops and removes every container labelled with project,
// dependents first when f (may be nil) declares them. It is `down`'s
// cleanup when no supervisor is running, e.g. after one was killed.
func RemoveProject(ctx context.Context, eng *engine.Client, f *spec.File, project string) ([]string, error) {
	names, err := eng.ListContainers(ctx, LabelProject+"="+project)
	if err != nil {
		return nil, err
	}
	rank := map[string]int{}
	if f != nil {
		for i, layer := range f.Layers() {
			for _, n := range layer {
				rank[n] = i
			}
		}
	}
	sort.SliceStable(names, func(i, j int) bool { return rank[names[i]] > rank[names[j]] })
	var errs []error
	for _, n := range names {
		// The container carries its own grace (run --stop-timeout).
		errs = append(errs, eng.StopContainer(ctx, n, engine.DefaultGrace), eng.RemoveContainer(ctx, n, true))
	}
	return names, errors.Join(errs...)
}
