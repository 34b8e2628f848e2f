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
	Output json.RawMessage `json:"output"`
	// OutputSize is the output's size; a run's answer carries the
	// output only up to 1 MiB (never in lists): RunOutput has it whole.
	OutputSize  int64           `json:"outputSize"`
	OutputFiles []string        `json:"outputFiles"`
	Raw         json.RawMessage `json:"-"`
}

func (r *Run) setRaw(b []byte) { r.Raw = b }

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
		if r, ok := out.(interface{ setRaw([]byte) }); ok {
			r.setRaw(data)
		}
	}
	return nil
}

// RunFilter selects runs to list.
type RunFilter struct {
	State, ConfigID string
	// Trigger and AddonID (an addon among the run's steps) narrow the
	// list; Since and Until bound the runs' creation time.
	Trigger, AddonID string
	Since, Until     time.Time
	// Limit is the most runs ListRuns returns; 0 means every run.
	Limit int
	// PageSize is how many runs one request asks for (1 to 1000; 0
	// means 1000, or Limit when that is smaller).
	PageSize int
}

// RunPage is one page of GET /v1/runs. Next, when not empty, is the
// cursor of the page after it.
type RunPage struct {
	Runs []Run
	Next string
}

// MaxPageSize is the most runs the daemon returns in one page.
const MaxPageSize = 1000

// ListRunsPage returns one page of runs, newest first: the first page
// when cursor is empty, else the page after the one whose Next it is.
func (c *Client) ListRunsPage(ctx context.Context, f RunFilter, cursor string) (RunPage, error) {
	q := url.Values{}
	if f.State != "" {
		q.Set("state", f.State)
	}
	if f.ConfigID != "" {
		q.Set("config", f.ConfigID)
	}
	for k, v := range map[string]string{"trigger": f.Trigger, "addon": f.AddonID} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.Format(time.RFC3339Nano))
	}
	if f.PageSize > 0 {
		q.Set("limit", fmt.Sprint(f.PageSize))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var out struct {
		Runs []json.RawMessage
		Next string
	}
	if err := c.do(ctx, "GET", "/v1/runs?"+q.Encode(), "", nil, &out); err != nil {
		return RunPage{}, err
	}
	page := RunPage{Runs: make([]Run, 0, len(out.Runs)), Next: out.Next}
	for _, raw := range out.Runs {
		var r Run
		if err := json.Unmarshal(raw, &r); err != nil {
			return RunPage{}, err
		}
		r.Raw = raw
		page.Runs = append(page.Runs, r)
	}
	return page, nil
}

// ListRuns lists runs, newest first, following the daemon's pages (by
// cursor, so that no run is skipped or repeated) until f.Limit runs or
// the last page.
func (c *Client) ListRuns(ctx context.Context, f RunFilter) ([]Run, error) {
	size := f.PageSize
	if size <= 0 || size > MaxPageSize {
		size = MaxPageSize
	}
	var runs []Run
	cursor := ""
	for {
		want := size
		if f.Limit > 0 {
			want = min(size, f.Limit-len(runs))
		}
		pf := f
		pf.PageSize = want
		page, err := c.ListRunsPage(ctx, pf, cursor)
		if err != nil {
			return nil, err
		}
		runs = append(runs, page.Runs...)
		if page.Next == "" || len(page.Runs) == 0 || (f.Limit > 0 && len(runs) >= f.Limit) {
			if runs == nil {
				runs = []Run{}
			}
			return runs, nil
		}
		cursor = page.Next
	}
}

// GetRun returns one run.
func (c *Client) GetRun(ctx context.Context, id string) (Run, error) {
	var r Run
	err := c.do(ctx, "GET", "/v1/runs/"+url.PathEscape(id), "", nil, &r)
	return r, err
}

// RunOutput copies a succeeded run's whole output (JSON) to w.
func (c *Client) RunOutput(ctx context.Context, id string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(c.BaseURL, "/")+"/v1/runs/"+url.PathEscape(id)+"/output", nil)
	if err != nil {
		return err
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
	if resp.StatusCode >= 300 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e struct{ Error *Error }
		if json.Unmarshal(data, &e) == nil && e.Error != nil {
			e.Error.Status = resp.StatusCode
			return e.Error
		}
		return &Error{Status: resp.StatusCode, Code: "http", Message: strings.TrimSpace(string(data))}
	}
	_, err = io.Copy(w, resp.Body)
	return err
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
