// Package client talks to a berth daemon's HTTP API (what `berth runs`
// and `berth events` use). It knows the API's JSON, not the daemon's
// internals.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

// LogLine is one stored line of a run's log: an addon's stderr
// (stream "stderr"), a build's output ("build") or berth's own note
// ("berth": an attempt starting, a marker counting dropped lines).
type LogLine struct {
	Seq     int64     `json:"seq"`
	Cursor  string    `json:"cursor"`
	Attempt int       `json:"attempt"`
	Stream  string    `json:"stream"`
	Time    time.Time `json:"time"`
	Line    string    `json:"line"`
	Dropped int64     `json:"dropped"`
}

// Logs are a run's stored log lines (GET /v1/runs/{id}/logs).
type Logs struct {
	RunID   string    `json:"runId"`
	State   string    `json:"state"`
	Lines   []LogLine `json:"lines"`
	Dropped int64     `json:"dropped"`
	Next    string    `json:"next"`
	More    bool      `json:"more"`
}

func (c *Client) do(ctx context.Context, method, path, ctype string, body io.Reader, out any) error {
	return c.doHeader(ctx, method, path, ctype, nil, body, out)
}

func (c *Client) doHeader(ctx context.Context, method, path, ctype string, header http.Header, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, body)
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header[k] = v
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
	return c.stream(ctx, "/v1/runs/"+url.PathEscape(id)+"/output", w)
}

// stream copies the body of GET path to w, as it comes; an answer of
// 300 or more is the daemon's error.
func (c *Client) stream(ctx context.Context, path string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(c.BaseURL, "/")+path, nil)
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
		return errorOf(resp.StatusCode, data)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// RunLogs returns a run's stored log lines after the cursor after
// (every line when empty), reading on while a page says there is more.
func (c *Client) RunLogs(ctx context.Context, id, after string) (Logs, error) {
	var all Logs
	for {
		var l Logs
		q := url.Values{}
		if after != "" {
			q.Set("after", after)
		}
		if err := c.do(ctx, "GET", "/v1/runs/"+url.PathEscape(id)+"/logs?"+q.Encode(), "", nil, &l); err != nil {
			return all, err
		}
		lines := append(all.Lines, l.Lines...)
		all, all.Lines = l, lines
		if !l.More || len(l.Lines) == 0 {
			if all.Lines == nil {
				all.Lines = []LogLine{}
			}
			return all, nil
		}
		after = l.Next
	}
}

// FollowLogs calls fn with each line of the run after the cursor after
// as the daemon stores it, until the run is final (it returns the final
// state) or ctx ends. It reads GET /v1/runs/{id}/logs?follow=true (Server-Sent
// Events); when the stream breaks it reconnects after a second and
// resumes from the last line's cursor, so no line is lost or repeated.
func (c *Client) FollowLogs(ctx context.Context, id, after string, fn func(LogLine) error) (string, error) {
	for {
		state, err := c.followOnce(ctx, id, &after, fn)
		if err == nil {
			return state, nil
		}
		var ae *Error
		if ctx.Err() != nil || errors.As(err, &ae) || errors.Is(err, errCallback) {
			return "", err
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

var errCallback = errors.New("follow callback failed")

// errStreamEnded is a stream that ended without its "end" event (the
// node stopped): FollowLogs reconnects.
var errStreamEnded = errors.New("the log stream ended before the run did")

func (c *Client) followOnce(ctx context.Context, id string, after *string, fn func(LogLine) error) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(c.BaseURL, "/")+"/v1/runs/"+url.PathEscape(id)+"/logs?follow=true", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "text/event-stream")
	if *after != "" {
		req.Header.Set("Last-Event-ID", *after)
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
		return "", fmt.Errorf("berth daemon at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e struct{ Error *Error }
		if json.Unmarshal(data, &e) == nil && e.Error != nil {
			e.Error.Status = resp.StatusCode
			return "", e.Error
		}
		return "", &Error{Status: resp.StatusCode, Code: "http", Message: strings.TrimSpace(string(data))}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var event, data, lastID string
	for sc.Scan() {
		line := sc.Text()
		if line != "" {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				event = value
			case "data":
				data = value
			case "id":
				lastID = value
			}
			continue
		}
		switch event {
		case "line":
			var l LogLine
			if err := json.Unmarshal([]byte(data), &l); err != nil {
				return "", fmt.Errorf("decoding a log event: %w", err)
			}
			if err := fn(l); err != nil {
				return "", fmt.Errorf("%w: %w", errCallback, err)
			}
			*after = lastID
		case "end":
			var end struct{ State string }
			_ = json.Unmarshal([]byte(data), &end)
			return end.State, nil
		}
		event, data = "", ""
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errStreamEnded
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

// SendEvent sends an event and returns the runs it queued. A non-empty
// key is sent as the Idempotency-Key header: a resend with the same key
// returns the runs the first one queued. A request that fails without
// an answer (the connection broke) is sent once more with the key.
func (c *Client) SendEvent(ctx context.Context, ev Event, key string) ([]Run, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	var out struct{ Runs []json.RawMessage }
	header := http.Header{}
	if key != "" {
		header.Set("Idempotency-Key", key)
	}
	send := func(ctype string, body []byte) error {
		err := c.doHeader(ctx, "POST", "/v1/events", ctype, header, bytes.NewReader(body), &out)
		var ae *Error
		if err != nil && key != "" && ctx.Err() == nil && !errors.As(err, &ae) {
			// No answer: the same key makes the resend safe.
			err = c.doHeader(ctx, "POST", "/v1/events", ctype, header, bytes.NewReader(body), &out)
		}
		return err
	}
	if len(ev.Originals)+len(ev.Pdfs) == 0 {
		err = send("application/json", body)
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
		err = send(mw.FormDataContentType(), buf.Bytes())
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
