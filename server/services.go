package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/config"
	"github.com/berth-dev/berth/server/svcmgr"
	"github.com/berth-dev/berth/service"
)

// The services the daemon supervises (server/svcmgr): berth.yaml's
// services: and the files handed over with PUT /v1/services/{project}.

func servicesEntries(files []config.ServicesFile) []svcmgr.Entry {
	out := make([]svcmgr.Entry, len(files))
	for i, f := range files {
		out[i] = svcmgr.Entry{File: f.File, Project: f.Project, Names: f.Names, Replace: f.Replace}
	}
	return out
}

// serviceError maps the manager's error kinds to API errors.
func serviceError(err error) error {
	switch {
	case errors.Is(err, svcmgr.ErrNotFound):
		return errf(http.StatusNotFound, codeNotFound, "%s", err.Error())
	case errors.Is(err, svcmgr.ErrConflict):
		return errf(http.StatusConflict, codeConflict, "%s", err.Error())
	case errors.Is(err, svcmgr.ErrInvalid):
		return errf(http.StatusBadRequest, codeInvalid, "%s", err.Error())
	}
	return err
}

// projectParam is the {project} of the path; a name no project can have
// is unknown.
func projectParam(r *http.Request) (string, error) {
	p := r.PathValue("project")
	if !svcmgr.ValidProject(p) {
		return "", errf(http.StatusNotFound, codeNotFound, "no project is named %q", p)
	}
	return p, nil
}

func (s *Server) listServices(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"projects": s.services.List()})
	return nil
}

func (s *Server) getServices(w http.ResponseWriter, r *http.Request) error {
	name, err := projectParam(r)
	if err != nil {
		return err
	}
	p, err := s.services.Get(name)
	if err != nil {
		return serviceError(err)
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) putServices(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("project")
	if !svcmgr.ValidProject(name) {
		return errf(http.StatusBadRequest, codeInvalid, "project: %q is not a project name (letters, digits, '_', '.', '-', starting with a letter or digit)", name)
	}
	var req svcmgr.PutRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	p, created, err := s.services.Put(r.Context(), name, req)
	if err != nil {
		return serviceError(err)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, p)
	return nil
}

func (s *Server) deleteServices(w http.ResponseWriter, r *http.Request) error {
	name, err := projectParam(r)
	if err != nil {
		return err
	}
	res, err := s.services.Down(r.Context(), name)
	if err != nil {
		if errors.Is(err, svcmgr.ErrNotFound) || errors.Is(err, svcmgr.ErrConflict) {
			return serviceError(err)
		}
		return fmt.Errorf("down %s: %w (stopped: %v, removed: %v)", name, err, res.Stopped, res.Removed)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) restartService(w http.ResponseWriter, r *http.Request) error {
	name, err := projectParam(r)
	if err != nil {
		return err
	}
	svc := r.URL.Query().Get("name")
	if svc == "" {
		return errf(http.StatusBadRequest, codeInvalid, "name: give the service to restart (?name=NAME)")
	}
	if err := s.services.Restart(name, svc); err != nil {
		return serviceError(err)
	}
	p, err := s.services.Get(name)
	if err != nil {
		return serviceError(err)
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// serviceLogs answers a project's logs as text, the lines of
// `berth services logs`: without name every service's merged by time,
// each line prefixed "NAME | ".
func (s *Server) serviceLogs(w http.ResponseWriter, r *http.Request) error {
	name, err := projectParam(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	tail := -1
	if t := q.Get("tail"); t != "" {
		if tail, err = strconv.Atoi(t); err != nil || tail < 0 {
			return errf(http.StatusBadRequest, codeInvalid, "tail: %q is not a number of lines (0 or more)", t)
		}
	}
	timestamps := false
	if t := q.Get("timestamps"); t != "" {
		if timestamps, err = strconv.ParseBool(t); err != nil {
			return errf(http.StatusBadRequest, codeInvalid, "timestamps: %q is not true or false", t)
		}
	}
	svc := q.Get("name")
	dir, names, err := s.services.LogNames(name, svc)
	if err != nil {
		return serviceError(err)
	}
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	started := false
	var b strings.Builder
	err = service.Logs(r.Context(), dir, names, service.LogOptions{Tail: tail}, func(l service.LogLine) error {
		if !started {
			started = true
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusOK)
		}
		b.Reset()
		if svc == "" {
			fmt.Fprintf(&b, "%-*s | ", width, l.Service)
		}
		if timestamps {
			if l.Time.IsZero() {
				b.WriteString(strings.Repeat(" ", len(logTimeLayout)) + " ")
			} else {
				b.WriteString(l.Time.UTC().Format(logTimeLayout) + " ")
			}
		}
		b.WriteString(l.Text)
		b.WriteByte('\n')
		_, err := w.Write([]byte(b.String()))
		return err
	})
	if err != nil {
		if started {
			return nil // the answer has begun; the client sees it cut short
		}
		if errors.Is(err, service.ErrNoLog) {
			return errf(http.StatusNotFound, codeNotFound, "%s", err.Error())
		}
		return err
	}
	if !started {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
	}
	return nil
}

// logTimeLayout is the time ?timestamps=true prints (UTC, fixed width),
// as `berth services logs --timestamps` does.
const logTimeLayout = "2006-01-02T15:04:05.000000Z"
