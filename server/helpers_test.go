package server_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/config"
	"github.com/berth-dev/berth/server"
	"github.com/berth-dev/berth/server/settings"
	"github.com/berth-dev/berth/store"
)

// node is a berth daemon running in the test process.
type node struct {
	t     testing.TB
	URL   string
	Token string
	srv   *server.Server
	stop  func()
}

type nodeOpts struct {
	dbURL   string
	dataDir string
	nodeID  string
	set     func(*settings.Serve)
	// clock, when set, is the node's clock.
	clock func() time.Time
	// log, when set, receives the node's log.
	log io.Writer
	// config and options, when set, change the node's configuration and
	// options.
	config  func(*config.Config)
	options func(*server.Options)
}

func testConfig(t testing.TB, dataDir string) config.Config {
	cfg := config.Default()
	base := t.TempDir()
	cfg.WorkingDir = filepath.Join(base, "work")
	cfg.CacheDir = filepath.Join(base, "cache")
	cfg.DataDir = dataDir
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(base, "data")
	}
	cfg.Runners = []string{"trivial"}
	cfg.Sandbox = "none"
	cfg.RunTimeout = config.Duration(time.Minute)
	cfg.KillGrace = config.Duration(500 * time.Millisecond)
	// The tests' addon and webhook servers listen on 127.0.0.1.
	cfg.Outbound.AllowLoopback = true
	return cfg
}

func testSettings() settings.Serve {
	set := settings.Default()
	set.Listen = "127.0.0.1:0"
	set.RetryBackoff = settings.Duration(100 * time.Millisecond)
	set.PollInterval = settings.Duration(20 * time.Millisecond)
	set.NodeTimeout = settings.Duration(2 * time.Second)
	set.ShutdownGrace = settings.Duration(2 * time.Second)
	set.Concurrency = 4
	return set
}

func startNode(t testing.TB, o nodeOpts) *node {
	t.Helper()
	set := testSettings()
	set.DatabaseURL = o.dbURL
	if o.set != nil {
		o.set(&set)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logger := testLogger()
	if o.log != nil {
		logger = slog.New(slog.NewTextHandler(o.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cfg := testConfig(t, o.dataDir)
	if o.config != nil {
		o.config(&cfg)
	}
	opt := server.Options{NodeID: o.nodeID, Logger: logger, Clock: o.clock}
	if o.options != nil {
		o.options(&opt)
	}
	srv, err := server.New(ctx, cfg, set, opt)
	if err != nil {
		cancel()
		t.Fatalf("server.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	n := &node{t: t, URL: "http://" + ln.Addr().String(), srv: srv}
	if len(set.Tokens) > 0 {
		n.Token = set.Tokens[0]
	}
	stopped := false
	n.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return within 30s of cancel")
		}
	}
	t.Cleanup(n.stop)
	return n
}

// call sends a JSON request and decodes the JSON answer into out (when
// not nil); it returns the status.
func (n *node) call(method, path string, body, out any) int {
	n.t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, err := json.Marshal(body)
			if err != nil {
				n.t.Fatal(err)
			}
			rd = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequest(method, n.URL+path, rd)
	if err != nil {
		n.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return n.do(req, out)
}

func (n *node) do(req *http.Request, out any) int {
	n.t.Helper()
	if n.Token != "" && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+n.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			n.t.Fatalf("%s %s: %d: not JSON: %v\n%s", req.Method, req.URL.Path, resp.StatusCode, err, data)
		}
	}
	return resp.StatusCode
}

// mustCall is call that fails the test unless the status is want.
func (n *node) mustCall(want int, method, path string, body, out any) {
	n.t.Helper()
	var raw json.RawMessage
	if got := n.call(method, path, body, &raw); got != want {
		n.t.Fatalf("%s %s = %d, want %d: %s", method, path, got, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			n.t.Fatal(err)
		}
	}
}

type apiErr struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type addonV struct {
	ID, Name, Version, Hash string
	Pure                    bool
	Triggers                []string
}

type runV struct {
	ID          string          `json:"id"`
	ConfigID    string          `json:"configId"`
	Trigger     string          `json:"trigger"`
	State       string          `json:"state"`
	Attempts    int             `json:"attempts"`
	MaxAttempts int             `json:"maxAttempts"`
	Error       string          `json:"error"`
	Node        string          `json:"node"`
	Output      json.RawMessage `json:"output"`
	OutputFiles []string        `json:"outputFiles"`
	Result      *struct {
		Result string `json:"result"`
	} `json:"result"`
	Logs *struct {
		Lines []string `json:"lines"`
	} `json:"logs"`
	Webhook string `json:"webhookState"`
}

func fixture(name string) string {
	p, err := filepath.Abs(filepath.Join("testdata", "addons", name))
	if err != nil {
		panic(err)
	}
	return p
}

func hello() string {
	p, err := filepath.Abs(filepath.Join("..", "examples", "hello"))
	if err != nil {
		panic(err)
	}
	return p
}

func (n *node) install(dir string) addonV {
	n.t.Helper()
	var a addonV
	n.mustCall(http.StatusCreated, "POST", "/v1/addons", map[string]string{"path": dir}, &a)
	return a
}

func (n *node) config(body map[string]any) string {
	n.t.Helper()
	var c struct{ ID string }
	n.mustCall(http.StatusCreated, "POST", "/v1/run-configs", body, &c)
	return c.ID
}

// runAdhoc queues one addon ad hoc and returns the run id.
func (n *node) runAdhoc(addonID, args string) string {
	n.t.Helper()
	var r runV
	n.mustCall(http.StatusAccepted, "POST", "/v1/runs", map[string]any{"addonId": addonID, "args": args}, &r)
	return r.ID
}

// wait polls the run until cond holds, failing after a minute.
func (n *node) wait(id string, what string, cond func(runV) bool) runV {
	n.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var r runV
		n.mustCall(http.StatusOK, "GET", "/v1/runs/"+id, nil, &r)
		if cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("run %s is still %s (attempts %d, error %q) after a minute; waited for %s", id, r.State, r.Attempts, r.Error, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func final(r runV) bool {
	return r.State == "succeeded" || r.State == "failed" || r.State == "cancelled"
}

func (n *node) waitFinal(id string) runV { return n.wait(id, "a final state", final) }

// zipDir zips dir's files under a top-level folder, as release zips do.
func zipDir(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, _ := d.Info()
		h, _ := zip.FileInfoHeader(info)
		h.Name = "addon/" + filepath.ToSlash(rel)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// multipartBody builds a form with the given parts: name -> (filename, data).
func multipartBody(t *testing.T, parts [][3]string) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		var w io.Writer
		var err error
		if p[1] == "" {
			w, err = mw.CreateFormField(p[0])
		} else {
			w, err = mw.CreateFormFile(p[0], p[1])
		}
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(p[2]))
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, mw.FormDataContentType()
}

// testLogger discards the daemon's logs unless BERTH_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("BERTH_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// eventually retries fn until it returns nil, for a minute.
func eventually(t *testing.T, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newServer builds (and closes at cleanup) a server without serving.
func newServer(t *testing.T, set settings.Serve, dataDir string) (*server.Server, error) {
	srv, err := server.New(context.Background(), testConfig(t, dataDir), set, server.Options{Logger: testLogger()})
	if err == nil {
		t.Cleanup(srv.Close)
	}
	return srv, err
}

// migratedStore opens the database at dbURL (or the SQLite file of
// dataDir) with berth's schema, for a test to prepare records directly;
// the caller closes db.
func migratedStore(t *testing.T, dbURL, dataDir string) (*store.DB, *store.Store) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dbURL, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(db)
	if err := st.Migrate(ctx); err != nil {
		db.Close()
		t.Fatal(err)
	}
	return db, st
}

// pathItem is an OpenAPI path item decoded for its operations only
// (get, post, ...): the path-level "parameters" and "summary" are valid
// OpenAPI but not operations.
type pathItem[Op any] map[string]Op

func (p *pathItem[Op]) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*p = pathItem[Op]{}
	for k, v := range raw {
		switch k {
		case "get", "put", "post", "delete", "options", "head", "patch", "trace":
			var op Op
			if err := json.Unmarshal(v, &op); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			(*p)[k] = op
		}
	}
	return nil
}
