// Package client talks to a berth daemon's HTTP API (what `berth runs`
// and `berth events` use). It knows the API's JSON, not the daemon's
// internals.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultURL is the daemon's default address.
const DefaultURL = "http://127.0.0.1:8470"

// Client is an API client. Token may be empty for a tokenless loopback
// daemon.
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client
}

// Error is an error answer of the API.
type Error struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// Run is a run as the API shows it; Raw is the whole JSON.
type Run struct {
	ID          string    `json:"id"`
	ConfigID    string    `json:"configId"`
	Trigger     string    `json:"trigger"`
	State       string    `json:"state"`
	Attempts    int       `json:"attempts"`
	MaxAttempts int       `json:"maxAttempts"`
	Error       string    `json:"error"`
	Node        string    `json:"node"`
	CreatedAt   time.Time `json:"createdAt"`
	Addons      []struct {
		AddonID string `json:"addonId"`
		Name    string `json:"name"`
		Args    string `json:"args"`
	} `json:"addons"`
	Output      json.RawMessage `json:"output"`
	OutputFiles []string        `json:"outputFiles"`
	Raw         json.RawMessage `json:"-"`
}

// Final reports whether the run will not change any more.
func (r Run) Final() bool {
	return r.State == "succeeded" || r.State == "failed" || r.State == "cancelled"
}

// Logs are a run's captured stderr lines.
type Logs struct {
	Lines   []string `json:"lines"`
	Dropped int      `json:"dropped"`
}

func (c *Client) do(ctx context.Context, method, path, ctype string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, body)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("berth daemon at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error *Error }
		if json.Unmarshal(data, &e) == nil && e.Error != nil {
			e.Error.Status = resp.StatusCode
			return e.Error
		}
		return &Error{Status: resp.StatusCode, Code: "http", Message: strings.TrimSpace(string(data))}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decoding the answer of %s %s: %w", method, path, err)
		}
		if r, ok := out.(*Run); ok {
			r.Raw = data
		}
	}
	return nil
}

// RunFilter selects runs to list.
type RunFilter struct {
	State, ConfigID string
	Limit           int
}

// ListRuns lists runs, newest first.
func (c *Client) ListRuns(ctx context.Context, f RunFilter) ([]Run, error) {
	q := url.Values{}
	if f.State != "" {
		q.Set("state", f.State)
	}
	if f.ConfigID != "" {
		q.Set("config", f.ConfigID)
	}
	if f.Limit > 0 {
		q.Set("limit", fmt.Sprint(f.Limit))
	}
	var out struct{ Runs []json.RawMessage }
	if err := c.do(ctx, "GET", "/v1/runs?"+q.Encode(), "", nil, &out); err != nil {
		return nil, err
	}
	runs := make([]Run, 0, len(out.Runs))
	for _, raw := range out.Runs {
		var r Run
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, err
		}
		r.Raw = raw
		runs = append(runs, r)
	}
	return runs, nil
}

// GetRun returns one run.
func (c *Client) GetRun(ctx context.Context, id string) (Run, error) {
	var r Run
	err := c.do(ctx, "GET", "/v1/runs/"+url.PathEscape(id), "", nil, &r)
	return r, err
}

// RunLogs returns a run's logs.
func (c *Client) RunLogs(ctx context.Context, id string) (Logs, error) {
	var l Logs
	err := c.do(ctx, "GET", "/v1/runs/"+url.PathEscape(id)+"/logs", "", nil, &l)
	return l, err
}

// CancelRun cancels a queued or running run.
func (c *Client) CancelRun(ctx context.Context, id string) (Run, error) {
	var r Run
	err := c.do(ctx, "POST", "/v1/runs/"+url.PathEscape(id)+"/cancel", "", nil, &r)
	return r, err
}

// Event is what SendEvent sends; Originals and Pdfs are local files.
type Event struct {
	Trigger   string          `json:"trigger"`
	Item      json.RawMessage `json:"item,omitempty"`
	ItemArgs  json.RawMessage `json:"itemArgs,omitempty"`
	Originals []string        `json:"-"`
	Pdfs      []string        `json:"-"`
}

// SendEvent sends an event and returns the runs it queued.
func (c *Client) SendEvent(ctx context.Context, ev Event) ([]Run, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	var out struct{ Runs []json.RawMessage }
	if len(ev.Originals)+len(ev.Pdfs) == 0 {
		err = c.do(ctx, "POST", "/v1/events", "application/json", bytes.NewReader(body), &out)
	} else {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		w, _ := mw.CreateFormField("event")
		w.Write(body)
		for part, files := range map[string][]string{"original": ev.Originals, "pdf": ev.Pdfs} {
			for _, f := range files {
				data, err := os.ReadFile(f)
				if err != nil {
					return nil, err
				}
				w, err := mw.CreateFormFile(part, filepath.Base(f))
				if err != nil {
					return nil, err
				}
				w.Write(data)
			}
		}
		mw.Close()
		err = c.do(ctx, "POST", "/v1/events", mw.FormDataContentType(), &buf, &out)
	}
	if err != nil {
		return nil, err
	}
	runs := make([]Run, 0, len(out.Runs))
	for _, raw := range out.Runs {
		var r Run
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, err
		}
		r.Raw = raw
		runs = append(runs, r)
	}
	return runs, nil
}

// Wait polls the run until it is final or ctx ends.
func (c *Client) Wait(ctx context.Context, id string, every time.Duration) (Run, error) {
	for {
		r, err := c.GetRun(ctx, id)
		if err != nil || r.Final() {
			return r, err
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(every):
		}
	}
}
