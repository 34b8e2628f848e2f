package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Addon is an installed addon as the API shows it; Raw is the whole
// JSON.
type Addon struct {
	ID            string          `json:"id"`
	Name          string          `json:"name"`
	Version       string          `json:"version"`
	Description   string          `json:"description"`
	Source        string          `json:"source"`
	Hash          string          `json:"hash"`
	Triggers      []string        `json:"triggers"`
	Runners       []string        `json:"runners"`
	UsableRunners []string        `json:"usableRunners"`
	Pure          bool            `json:"pure"`
	Networking    bool            `json:"networking"`
	CollectOutput bool            `json:"collectOutput"`
	InstalledAt   time.Time       `json:"installedAt"`
	UpdatedAt     time.Time       `json:"updatedAt"`
	Raw           json.RawMessage `json:"-"`
}

func (a *Addon) setRaw(b []byte) { a.Raw = b }

// AddonList is GET /v1/addons; Raw is the whole answer.
type AddonList struct {
	Addons []Addon
	Raw    json.RawMessage
}

// AddonSource is where an addon is installed from: exactly one of a zip
// URL the daemon fetches, a path on the daemon's machine, or a zip
// uploaded (ZipName is the upload's file name).
type AddonSource struct {
	URL, Path string
	Zip       io.Reader
	ZipName   string
}

// ListAddons lists the installed addons.
func (c *Client) ListAddons(ctx context.Context) (AddonList, error) {
	var raw json.RawMessage
	if err := c.do(ctx, "GET", "/v1/addons", "", nil, &raw); err != nil {
		return AddonList{}, err
	}
	var out struct{ Addons []json.RawMessage }
	if err := json.Unmarshal(raw, &out); err != nil {
		return AddonList{}, err
	}
	l := AddonList{Addons: make([]Addon, 0, len(out.Addons)), Raw: raw}
	for _, r := range out.Addons {
		var a Addon
		if err := json.Unmarshal(r, &a); err != nil {
			return AddonList{}, err
		}
		a.Raw = r
		l.Addons = append(l.Addons, a)
	}
	return l, nil
}

// GetAddon returns one addon.
func (c *Client) GetAddon(ctx context.Context, id string) (Addon, error) {
	var a Addon
	err := c.do(ctx, "GET", "/v1/addons/"+url.PathEscape(id), "", nil, &a)
	return a, err
}

// InstallAddon installs an addon.
func (c *Client) InstallAddon(ctx context.Context, src AddonSource) (Addon, error) {
	return c.sendAddon(ctx, "POST", "/v1/addons", src, false)
}

// UpdateAddon fetches addon id again: from src, or, when src is empty,
// from the source it was installed from.
func (c *Client) UpdateAddon(ctx context.Context, id string, src AddonSource) (Addon, error) {
	return c.sendAddon(ctx, "PUT", "/v1/addons/"+url.PathEscape(id), src, true)
}

func (c *Client) sendAddon(ctx context.Context, method, path string, src AddonSource, emptyOK bool) (Addon, error) {
	var a Addon
	n := 0
	for _, set := range []bool{src.URL != "", src.Path != "", src.Zip != nil} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return a, errors.New("give one addon source: a URL, a path on the server or a zip")
	case n == 0 && !emptyOK:
		return a, errors.New("give an addon source: a URL, a path on the server or a zip")
	case n == 0:
		return a, c.do(ctx, method, path, "", nil, &a)
	case src.Zip != nil:
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		w, err := mw.CreateFormFile("file", cmpOr(src.ZipName, "addon.zip"))
		if err != nil {
			return a, err
		}
		if _, err := io.Copy(w, src.Zip); err != nil {
			return a, err
		}
		if err := mw.Close(); err != nil {
			return a, err
		}
		return a, c.do(ctx, method, path, mw.FormDataContentType(), &buf, &a)
	}
	body, _ := json.Marshal(struct {
		URL  string `json:"url,omitempty"`
		Path string `json:"path,omitempty"`
	}{src.URL, src.Path})
	return a, c.do(ctx, method, path, "application/json", bytes.NewReader(body), &a)
}

// DeleteAddon removes an addon no run configuration uses.
func (c *Client) DeleteAddon(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/v1/addons/"+url.PathEscape(id), "", nil, nil)
}

// RunConfig is a run configuration as the API shows it; Raw is the
// whole JSON.
type RunConfig struct {
	ID        string           `json:"id,omitempty"`
	Name      string           `json:"name"`
	Enabled   bool             `json:"enabled"`
	Trigger   []string         `json:"trigger"`
	Schedule  string           `json:"schedule,omitempty"`
	Addons    []RunConfigAddon `json:"addons"`
	Webhook   string           `json:"webhook,omitempty"`
	HostURL   string           `json:"hostUrl,omitempty"`
	CreatedAt *time.Time       `json:"createdAt,omitempty"`
	UpdatedAt *time.Time       `json:"updatedAt,omitempty"`
	Raw       json.RawMessage  `json:"-"`
}

func (r *RunConfig) setRaw(b []byte) { r.Raw = b }

// RunConfigAddon is one addon of a configuration's chain with its user
// input.
type RunConfigAddon struct {
	AddonID string `json:"addonId"`
	Args    string `json:"args"`
}

// RunConfigList is GET /v1/run-configs; Raw is the whole answer.
type RunConfigList struct {
	RunConfigs []RunConfig
	Raw        json.RawMessage
}

// ListRunConfigs lists the run configurations.
func (c *Client) ListRunConfigs(ctx context.Context) (RunConfigList, error) {
	var raw json.RawMessage
	if err := c.do(ctx, "GET", "/v1/run-configs", "", nil, &raw); err != nil {
		return RunConfigList{}, err
	}
	var out struct{ RunConfigs []json.RawMessage }
	if err := json.Unmarshal(raw, &out); err != nil {
		return RunConfigList{}, err
	}
	l := RunConfigList{RunConfigs: make([]RunConfig, 0, len(out.RunConfigs)), Raw: raw}
	for _, r := range out.RunConfigs {
		var rc RunConfig
		if err := json.Unmarshal(r, &rc); err != nil {
			return RunConfigList{}, err
		}
		rc.Raw = r
		l.RunConfigs = append(l.RunConfigs, rc)
	}
	return l, nil
}

// GetRunConfig returns one run configuration.
func (c *Client) GetRunConfig(ctx context.Context, id string) (RunConfig, error) {
	var rc RunConfig
	err := c.do(ctx, "GET", "/v1/run-configs/"+url.PathEscape(id), "", nil, &rc)
	return rc, err
}

// CreateRunConfig creates a run configuration from its JSON (the API's
// shape, without id).
func (c *Client) CreateRunConfig(ctx context.Context, body json.RawMessage) (RunConfig, error) {
	var rc RunConfig
	err := c.do(ctx, "POST", "/v1/run-configs", "application/json", bytes.NewReader(body), &rc)
	return rc, err
}

// ReplaceRunConfig replaces run configuration id with body.
func (c *Client) ReplaceRunConfig(ctx context.Context, id string, body json.RawMessage) (RunConfig, error) {
	var rc RunConfig
	err := c.do(ctx, "PUT", "/v1/run-configs/"+url.PathEscape(id), "application/json", bytes.NewReader(body), &rc)
	return rc, err
}

// SetRunConfigEnabled enables or disables a run configuration.
func (c *Client) SetRunConfigEnabled(ctx context.Context, id string, enabled bool) (RunConfig, error) {
	action := "disable"
	if enabled {
		action = "enable"
	}
	var rc RunConfig
	err := c.do(ctx, "POST", "/v1/run-configs/"+url.PathEscape(id)+"/"+action, "", nil, &rc)
	return rc, err
}

// DeleteRunConfig deletes a run configuration.
func (c *Client) DeleteRunConfig(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/v1/run-configs/"+url.PathEscape(id), "", nil, nil)
}

// RunRequest is what CreateRun sends: a configuration by id, or addons
// ad hoc, with optional item data and files (local paths).
type RunRequest struct {
	ConfigID  string           `json:"configId,omitempty"`
	Addons    []RunConfigAddon `json:"addons,omitempty"`
	Trigger   string           `json:"trigger,omitempty"`
	Item      json.RawMessage  `json:"item,omitempty"`
	ItemArgs  json.RawMessage  `json:"itemArgs,omitempty"`
	Originals []string         `json:"-"`
	Pdfs      []string         `json:"-"`
}

// CreateRun queues a run; with files it sends them as a multipart form.
func (c *Client) CreateRun(ctx context.Context, req RunRequest) (Run, error) {
	var r Run
	body, err := json.Marshal(req)
	if err != nil {
		return r, err
	}
	if len(req.Originals)+len(req.Pdfs) == 0 {
		return r, c.do(ctx, "POST", "/v1/runs", "application/json", bytes.NewReader(body), &r)
	}
	buf, ctype, err := itemForm("run", body, req.Originals, req.Pdfs)
	if err != nil {
		return r, err
	}
	return r, c.do(ctx, "POST", "/v1/runs", ctype, buf, &r)
}

// itemForm builds a form of a JSON part and the item's files.
func itemForm(jsonPart string, body []byte, originals, pdfs []string) (*bytes.Buffer, string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, _ := mw.CreateFormField(jsonPart)
	w.Write(body)
	for _, x := range []struct {
		part  string
		files []string
	}{{"original", originals}, {"pdf", pdfs}} {
		for _, f := range x.files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, "", err
			}
			w, err := mw.CreateFormFile(x.part, filepath.Base(f))
			if err != nil {
				return nil, "", err
			}
			w.Write(data)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return &buf, mw.FormDataContentType(), nil
}

// RerunRun queues a new run with the inputs of run id.
func (c *Client) RerunRun(ctx context.Context, id string) (Run, error) {
	var r Run
	err := c.do(ctx, "POST", "/v1/runs/"+url.PathEscape(id)+"/rerun", "", nil, &r)
	return r, err
}

// SchedulePreview returns the next count firings of a cron expression.
func (c *Client) SchedulePreview(ctx context.Context, expr string, count int) ([]time.Time, error) {
	var out struct{ Next []time.Time }
	q := url.Values{"expr": {expr}, "count": {fmt.Sprint(count)}}
	err := c.do(ctx, "GET", "/v1/schedule?"+q.Encode(), "", nil, &out)
	return out.Next, err
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
