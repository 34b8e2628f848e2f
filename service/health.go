package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/service/spec"
)

// Health statuses, as the engines name them (`inspect`: State.Health.Status).
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// errUnhealthy is the "exit" of a container berth stopped because its
// check said unhealthy and onUnhealthy is restart (the restart policy
// then decides, as systemd's Restart= does after podman's kill) or stop.
var errUnhealthy = errors.New("turned unhealthy")

// healthInfo is what the engine knows of a container's health check.
type healthInfo struct {
	HasCheck bool          // a check is configured (the file's or the image's)
	Interval time.Duration // between checks (the engine's default when 0)
	Status   string        // starting, healthy, unhealthy
	Output   string        // the last check's output, one line
}

// inspectHealth reads the health check of container name: the same JSON
// keys on docker and podman (podman 4.3 also names State.Health
// Healthcheck).
func inspectHealth(ctx context.Context, eng *engine.Client, name string) (healthInfo, error) {
	out, err := eng.Run(ctx, []string{"container", "inspect", name}, engine.RunOpts{})
	if err != nil {
		return healthInfo{}, err
	}
	type health struct {
		Status string
		Log    []struct{ Output string }
	}
	var raw []struct {
		Config struct {
			Healthcheck *struct {
				Test     []string
				Interval time.Duration
			}
		}
		State struct {
			Health      *health
			Healthcheck *health
		}
	}
	if err := json.Unmarshal(out, &raw); err != nil || len(raw) == 0 {
		return healthInfo{}, fmt.Errorf("decoding inspect %s: %v", name, err)
	}
	r := raw[0]
	var hi healthInfo
	if hc := r.Config.Healthcheck; hc != nil && len(hc.Test) > 0 && hc.Test[0] != "NONE" {
		hi.HasCheck, hi.Interval = true, hc.Interval
	}
	h := r.State.Health
	if h == nil {
		h = r.State.Healthcheck
	}
	if h != nil {
		hi.Status = h.Status
		if n := len(h.Log); n > 0 {
			hi.Output = oneLine(h.Log[n-1].Output, 200)
		}
	}
	if hi.HasCheck && hi.Status == "" {
		hi.Status = HealthStarting
	}
	return hi, nil
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// watchHealth follows v's health check while its container runs, until
// ctx ends. docker runs the checks itself and berth reads the status;
// podman schedules its checks with systemd timers, which do not exist
// without systemd (podman run logs "unable to get systemd connection to
// add healthchecks"), so berth runs `podman healthcheck run` at the
// check's interval itself.
func (s *Supervisor) watchHealth(ctx context.Context, v *svc) {
	eng := s.cfg.Engine
	hi, err := inspectHealth(ctx, eng, v.name)
	if err != nil || !hi.HasCheck {
		return
	}
	s.mu.Lock()
	s.applyHealthLocked(v, hi)
	s.mu.Unlock()
	interval := hi.Interval
	if interval <= 0 {
		interval = spec.DefaultHealthInterval
	}
	podman := s.cfg.Spec.Backend == spec.BackendPodman
	poll := interval
	if !podman {
		// docker changes the status once per interval: look often
		// enough to see it soon after.
		poll = min(interval, max(s.cfg.PollInterval, 250*time.Millisecond))
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if podman {
			// Exit 1 means unhealthy (or still starting): the status says which.
			eng.Run(ctx, []string{"healthcheck", "run", v.name}, engine.RunOpts{})
		}
		hi, err := inspectHealth(ctx, eng, v.name)
		if err != nil {
			continue
		}
		s.mu.Lock()
		s.applyHealthLocked(v, hi)
		s.mu.Unlock()
	}
}

// applyHealthLocked records v's health: running <-> unhealthy, and the
// onUnhealthy action once it turns unhealthy.
func (s *Supervisor) applyHealthLocked(v *svc, hi healthInfo) {
	if v.st.State != Running && v.st.State != Unhealthy {
		return
	}
	if hi.Status == v.st.Health && (hi.Status != HealthUnhealthy || hi.Output == v.st.HealthOutput) {
		return
	}
	id, pid := v.st.ContainerID, v.st.Pid
	keep := func(st *Status) {
		st.ContainerID, st.Pid = id, pid
		st.Health, st.HealthOutput = hi.Status, hi.Output
	}
	switch {
	case hi.Status == HealthUnhealthy && v.st.State == Running:
		reason := "health check failing"
		if hi.Output != "" {
			reason += ": " + hi.Output
		}
		s.setLocked(v, Unhealthy, reason, keep)
		if v.c.OnUnhealthy != "none" {
			v.unhealthy = true
			s.notifyLocked(nil)
		}
	case hi.Status != HealthUnhealthy && v.st.State == Unhealthy:
		s.setLocked(v, Running, "health check passes again", keep)
	default:
		keep(&v.st)
		s.log.Info("service health", "service", v.name, "health", hi.Status)
		v.log.note("health %s", hi.Status)
		s.notifyLocked(v)
	}
}

// unmetDepsLocked lists v's dependencies that are not ready, each with
// the condition it waits for. Before the start (starting) every
// condition applies; once v runs only started ones matter (Requires=):
// a dependency that was healthy or completed has done its part.
func (s *Supervisor) unmetDepsLocked(v *svc, starting bool) []string {
	var out []string
	for _, d := range v.c.DependsOn {
		dv := s.svcs[d.Name]
		up := dv.st.State == Running || dv.st.State == Unhealthy
		switch {
		case d.Condition == spec.ConditionCompleted:
			if starting && !dv.completed {
				out = append(out, d.Name+" (to complete successfully)")
			}
		case !starting:
			if !up {
				out = append(out, d.Name)
			}
		case d.Condition == spec.ConditionHealthy && up && dv.st.Health == "" && dv.checked:
			out = append(out, d.Name+" (to be healthy: it has no health check, neither healthcheck nor an image HEALTHCHECK)")
		case d.Condition == spec.ConditionHealthy && (dv.st.State != Running || dv.st.Health != HealthHealthy):
			out = append(out, d.Name+" (to be healthy)")
		case !up:
			out = append(out, d.Name)
		}
	}
	return out
}
