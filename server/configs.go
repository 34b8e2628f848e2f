package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/store"
)

// runConfig is Docspell's AddonRunConfig shape with berth's additions
// (webhook).
type runConfig struct {
	ID      string   `json:"id,omitempty"`
	Name    string   `json:"name"`
	Enabled bool     `json:"enabled"`
	Trigger []string `json:"trigger"`
	// Schedule is a cron expression (5 fields, or @every 1h, @daily …),
	// required with the scheduled trigger and refused without it.
	Schedule string        `json:"schedule,omitempty"`
	Addons   []configAddon `json:"addons"`
	// Webhook receives the final run as JSON (POST), retried with backoff
	// until it answers 2xx.
	Webhook string `json:"webhook,omitempty"`
	// HostURL is the host application's URL, given to the configuration's
	// runs as DSC_DOCSPELL_URL (Docspell's dsc reads it).
	HostURL   string     `json:"hostUrl,omitempty"`
	CreatedAt *time.Time `json:"createdAt,omitempty"`
	UpdatedAt *time.Time `json:"updatedAt,omitempty"`
}

type configAddon struct {
	AddonID string `json:"addonId"`
	Args    string `json:"args"`
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// parseSchedule parses a cron expression for firing. "@every D" fires
// at the multiples of D since the Unix epoch, not D after whenever this
// node started looking: every node must compute the same firing times,
// which name the scheduled runs, or several nodes would each queue their
// own run of one firing.
func parseSchedule(expr string) (cron.Schedule, error) {
	sched, err := cronParser.Parse(expr)
	if err != nil {
		return nil, err
	}
	if every, ok := sched.(cron.ConstantDelaySchedule); ok {
		return epochEvery(every.Delay), nil
	}
	return sched, nil
}

// epochEvery fires at the multiples of its duration since the epoch.
type epochEvery time.Duration

func (d epochEvery) Next(t time.Time) time.Time {
	step := time.Duration(d).Nanoseconds()
	return time.Unix(0, (t.UnixNano()/step+1)*step).In(t.Location())
}

// validate normalises c and checks it as Docspell does: known triggers,
// every trigger supported by every addon, schedule iff scheduled.
func (s *Server) validate(ctx context.Context, c *runConfig) error {
	bad := func(field, format string, args ...any) error {
		return errf(http.StatusUnprocessableEntity, codeInvalid, "%s: %s", field, fmt.Sprintf(format, args...))
	}
	c.Name = strings.TrimSpace(c.Name)
	if c.Name == "" {
		return bad("name", "must not be empty")
	}
	if len(c.Trigger) == 0 {
		return bad("trigger", "name at least one of %s", triggerList())
	}
	seen := map[string]bool{}
	var triggers []string
	for i, t := range c.Trigger {
		pt, err := addon.ParseTrigger(t)
		if err != nil {
			return bad(fmt.Sprintf("trigger[%d]", i), "unknown trigger %q (known: %s)", t, triggerList())
		}
		if !seen[string(pt)] {
			seen[string(pt)] = true
			triggers = append(triggers, string(pt))
		}
	}
	c.Trigger = triggers
	scheduled := seen[string(addon.TriggerScheduled)]
	c.Schedule = strings.TrimSpace(c.Schedule)
	switch {
	case scheduled && c.Schedule == "":
		return bad("schedule", "is required with the scheduled trigger")
	case !scheduled && c.Schedule != "":
		return bad("schedule", "is only allowed with the scheduled trigger")
	case scheduled:
		sched, err := cronParser.Parse(c.Schedule)
		if err != nil {
			return bad("schedule", "%q is not a cron expression (minute hour day-of-month month day-of-week, or @every 1h): %v", c.Schedule, err)
		}
		if sched.Next(time.Now()).IsZero() {
			return bad("schedule", "%q never fires (no such date within five years)", c.Schedule)
		}
	}
	if len(c.Addons) == 0 {
		return bad("addons", "name at least one addon")
	}
	for i, ca := range c.Addons {
		a, err := s.st.GetAddon(ctx, nil, ca.AddonID)
		if errors.Is(err, store.ErrNotFound) {
			return bad(fmt.Sprintf("addons[%d].addonId", i), "no addon %q is installed", ca.AddonID)
		}
		if err != nil {
			return err
		}
		info := viewAddon(a)
		for _, t := range c.Trigger {
			if !slices.Contains(info.Triggers, t) {
				return bad(fmt.Sprintf("addons[%d]", i), "addon %s-%s does not support the trigger %s (it supports %s)", a.Name, a.Version, t, strings.Join(info.Triggers, ", "))
			}
		}
	}
	if c.Webhook != "" {
		if err := s.checkWebhook(ctx, c.Webhook); err != nil {
			return bad("webhook", "%v", err)
		}
	}
	if c.HostURL != "" {
		if err := checkHostURL(c.HostURL); err != nil {
			return bad("hostUrl", "%v", err)
		}
	}
	return nil
}

func triggerList() string {
	return strings.Join([]string{string(addon.TriggerFinalProcessItem), string(addon.TriggerFinalReprocessItem), string(addon.TriggerExistingItem), string(addon.TriggerScheduled)}, ", ")
}

func (s *Server) saveConfig(ctx context.Context, c runConfig, created time.Time) (runConfig, error) {
	now := time.Now().UTC()
	c.CreatedAt, c.UpdatedAt = &created, &now
	body, err := json.Marshal(c)
	if err != nil {
		return c, err
	}
	err = s.st.PutRunConfig(ctx, nil, store.RunConfig{ID: c.ID, Name: c.Name, Enabled: c.Enabled, Triggers: c.Trigger, Schedule: c.Schedule, Body: body, Created: created, Updated: now})
	return c, err
}

func decodeConfig(rc store.RunConfig) (runConfig, error) {
	var c runConfig
	if err := json.Unmarshal(rc.Body, &c); err != nil {
		return c, fmt.Errorf("run configuration %s: stored JSON: %w", rc.ID, err)
	}
	return c, nil
}

func (s *Server) createConfig(w http.ResponseWriter, r *http.Request) error {
	var c runConfig
	if err := s.decodeJSON(w, r, &c); err != nil {
		return err
	}
	if err := s.validate(r.Context(), &c); err != nil {
		return err
	}
	c.ID = newID("rc_")
	c, err := s.saveConfig(r.Context(), c, time.Now().UTC())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

func (s *Server) updateConfig(w http.ResponseWriter, r *http.Request) error {
	old, err := s.st.GetRunConfig(r.Context(), nil, r.PathValue("id"))
	if err != nil {
		return err
	}
	var c runConfig
	if err := s.decodeJSON(w, r, &c); err != nil {
		return err
	}
	if c.ID != "" && c.ID != old.ID {
		return errf(http.StatusBadRequest, codeInvalid, "id: %q does not match the URL's %q", c.ID, old.ID)
	}
	if err := s.validate(r.Context(), &c); err != nil {
		return err
	}
	c.ID = old.ID
	c, err = s.saveConfig(r.Context(), c, old.Created)
	if err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.lastFire, c.ID)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) error {
	rc, err := s.st.GetRunConfig(r.Context(), nil, r.PathValue("id"))
	if err != nil {
		return err
	}
	c, err := decodeConfig(rc)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) listConfigs(w http.ResponseWriter, r *http.Request) error {
	rcs, err := s.st.ListRunConfigs(r.Context(), nil, "")
	if err != nil {
		return err
	}
	out := make([]runConfig, 0, len(rcs))
	for _, rc := range rcs {
		c, err := decodeConfig(rc)
		if err != nil {
			return err
		}
		out = append(out, c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"runConfigs": out})
	return nil
}

func (s *Server) deleteConfig(w http.ResponseWriter, r *http.Request) error {
	if err := s.st.DeleteRunConfig(r.Context(), nil, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// schedule creates the runs of scheduled configurations that are due.
// Each firing has a fixed run id (config and time), so when several nodes
// fire the same schedule only one run is stored.
func (s *Server) schedule(ctx context.Context) error {
	rcs, err := s.st.ListRunConfigs(ctx, nil, string(addon.TriggerScheduled))
	if err != nil {
		return err
	}
	now := time.Now()
	for _, rc := range rcs {
		sched, err := parseSchedule(rc.Schedule)
		if err != nil {
			continue
		}
		s.mu.Lock()
		last, ok := s.lastFire[rc.ID]
		if !ok {
			// Missed firings (while no node ran) are not made up.
			last = now
			s.lastFire[rc.ID] = last
		}
		s.mu.Unlock()
		next := sched.Next(last)
		if next.IsZero() || next.After(now) {
			// Zero: a schedule that never fires (stored before
			// validation refused it).
			continue
		}
		for n := sched.Next(next); !n.IsZero() && !n.After(now); n = sched.Next(n) {
			next = n
		}
		s.mu.Lock()
		s.lastFire[rc.ID] = next
		s.mu.Unlock()
		c, err := decodeConfig(rc)
		if err != nil {
			return err
		}
		id := fmt.Sprintf("sc_%s_%d", strings.TrimPrefix(rc.ID, "rc_"), next.Unix())
		if _, err := s.enqueue(ctx, id, c.ID, string(addon.TriggerScheduled), c.Addons, c.Webhook, nil); err != nil {
			s.log.Warn("scheduled run not queued", "config", rc.ID, "err", err)
		}
	}
	return nil
}
