package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// ServiceStatus is one container of a project as the daemon shows it. It
// mirrors service.Status (the JSON of state.json and `services status
// --json`) field by field, so that this package needs nothing of the
// supervisor's.
type ServiceStatus struct {
	Name          string    `json:"name"`
	State         string    `json:"state"`
	Since         time.Time `json:"since"`
	Reason        string    `json:"reason,omitempty"`
	ContainerID   string    `json:"containerId,omitempty"`
	Pid           int       `json:"pid,omitempty"`
	Health        string    `json:"health,omitempty"`
	HealthOutput  string    `json:"healthOutput,omitempty"`
	Attempt       int       `json:"attempt,omitempty"`
	NextTry       time.Time `json:"nextTry,omitzero"`
	LastExitCode  *int      `json:"lastExitCode,omitempty"`
	LastError     string    `json:"lastError,omitempty"`
	LastErrorLine string    `json:"lastErrorLine,omitempty"`
	LastLog       []string  `json:"lastLog,omitempty"`
	Restarts      int       `json:"restarts"`
}

// ServicesProject is a project the daemon supervises (GET
// /v1/services/{project}); Raw is its whole JSON.
type ServicesProject struct {
	Project string `json:"project"`
	// File is the services file's absolute path.
	File string `json:"file"`
	// Source is "config" (the services: section of berth.yaml) or "api"
	// (handed over with PUT, `berth services up -d`).
	Source   string `json:"source"`
	StateDir string `json:"stateDir"`
	// State is the project's: running, failed, held (a foreground
	// `berth services up` holds its state directory) or stopped.
	State string `json:"state"`
	Error string `json:"error,omitempty"`
	// Names and Replace are what the project was started with.
	Names   []string `json:"names,omitempty"`
	Replace bool     `json:"replace,omitempty"`
	// HeldBy is the pid of the supervisor holding the state directory
	// (state held), when the daemon knows it.
	HeldBy   int             `json:"heldBy,omitempty"`
	Since    time.Time       `json:"since"`
	Services []ServiceStatus `json:"services"`
	Raw      json.RawMessage `json:"-"`
}

// ServicesDown is the answer of DELETE /v1/services/{project}: the
// project as it was stopped, and what went.
type ServicesDown struct {
	ServicesProject
	// Stopped are the containers its supervisor stopped, in its order.
	Stopped []string `json:"stopped"`
	// Removed are containers of the project left by an earlier
	// supervisor, stopped and removed.
	Removed []string `json:"removed"`
	// Networks are the networks berth had created for the project.
	Networks []string `json:"networks"`
	// Forgotten: the daemon no longer keeps the handed-over file.
	Forgotten bool `json:"forgotten"`
	// Note says what happens next (a berth.yaml project comes back when
	// the daemon restarts).
	Note string `json:"note"`
}

func (d *ServicesDown) setRaw(b []byte) { d.Raw = b }

func (p *ServicesProject) setRaw(b []byte) { p.Raw = b }

// ServicesList is GET /v1/services; Raw is the whole answer.
type ServicesList struct {
	Projects []ServicesProject
	Raw      json.RawMessage
}

// PutServicesRequest is the body of PUT /v1/services/{project}: the
// services file, by its absolute path (relative paths in it are relative
// to that) and its text, and what `up` would be given.
type PutServicesRequest struct {
	File string `json:"file"`
	Spec string `json:"spec"`
	// Names are the containers to start (with what they depend on);
	// none: every autoStart container.
	Names []string `json:"names,omitempty"`
	// Replace is `up --replace`: replace: true on every container.
	Replace bool `json:"replace"`
}

func servicesPath(project string) string { return "/v1/services/" + url.PathEscape(project) }

// ListServices lists the projects the daemon supervises.
func (c *Client) ListServices(ctx context.Context) (ServicesList, error) {
	var raw json.RawMessage
	if err := c.do(ctx, "GET", "/v1/services", "", nil, &raw); err != nil {
		return ServicesList{}, err
	}
	var out struct{ Projects []json.RawMessage }
	if err := json.Unmarshal(raw, &out); err != nil {
		return ServicesList{}, fmt.Errorf("decoding the answer of GET /v1/services: %w", err)
	}
	l := ServicesList{Projects: make([]ServicesProject, 0, len(out.Projects)), Raw: raw}
	for _, r := range out.Projects {
		var p ServicesProject
		if err := json.Unmarshal(r, &p); err != nil {
			return ServicesList{}, fmt.Errorf("decoding the answer of GET /v1/services: %w", err)
		}
		p.Raw = r
		l.Projects = append(l.Projects, p)
	}
	return l, nil
}

// GetServices returns one project; an unknown one is an *Error with
// Status 404 (see StatusOf).
func (c *Client) GetServices(ctx context.Context, project string) (ServicesProject, error) {
	var p ServicesProject
	err := c.do(ctx, "GET", servicesPath(project), "", nil, &p)
	return p, err
}

// PutServices hands a services file to the daemon, which persists it and
// supervises it as project (replacing a file handed over before, and
// keeping the containers that did not change).
func (c *Client) PutServices(ctx context.Context, project string, req PutServicesRequest) (ServicesProject, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return ServicesProject{}, err
	}
	var p ServicesProject
	err = c.do(ctx, "PUT", servicesPath(project), "application/json", bytes.NewReader(body), &p)
	return p, err
}

// DownServices stops the project's containers and removes them (and the
// networks berth created for it); the daemon forgets a handed-over file.
func (c *Client) DownServices(ctx context.Context, project string) (ServicesDown, error) {
	var d ServicesDown
	err := c.do(ctx, "DELETE", servicesPath(project), "", nil, &d)
	return d, err
}

// RestartService restarts one container of the project (its dependents
// follow); it resets a failed one.
func (c *Client) RestartService(ctx context.Context, project, name string) error {
	return c.do(ctx, "POST", servicesPath(project)+"/restart?"+url.Values{"name": {name}}.Encode(), "", nil, nil)
}

// ServiceLogsOptions say which lines ServiceLogs asks for.
type ServiceLogsOptions struct {
	// Tail >= 0 asks for the last Tail lines of each log only.
	Tail int
	// Timestamps asks for each line's time (UTC) before its text.
	Timestamps bool
}

// ServiceLogs copies the log of one container of the project (name), or
// of all of them merged by time, each line prefixed "NAME | " (name
// empty), to w as the daemon writes it: text lines.
func (c *Client) ServiceLogs(ctx context.Context, project, name string, opt ServiceLogsOptions, w io.Writer) error {
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	if opt.Tail >= 0 {
		q.Set("tail", fmt.Sprint(opt.Tail))
	}
	if opt.Timestamps {
		q.Set("timestamps", "true")
	}
	path := servicesPath(project) + "/logs"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return c.stream(ctx, path, w)
}

// StatusOf is the HTTP status of an API error answer (an *Error in
// err's chain), 0 for any other error (the daemon did not answer).
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// errorOf is the *Error of an answer with status >= 300: the API's JSON
// error, else the body as the message.
func errorOf(status int, data []byte) error {
	var e struct{ Error *Error }
	if json.Unmarshal(data, &e) == nil && e.Error != nil {
		e.Error.Status = status
		return e.Error
	}
	return &Error{Status: status, Code: "http", Message: strings.TrimSpace(string(data))}
}
