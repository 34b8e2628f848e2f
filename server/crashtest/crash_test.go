package crashtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/store/storetest"
)

var berthBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-crashtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	berthBin = filepath.Join(dir, "berth")
	build := exec.Command("go", "build", "-tags", "daemon", "-o", berthBin, "github.com/berth-dev/berth/cmd/berth") // berthd: serve in-process
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building berth:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// daemon is one `berth serve` process.
type daemon struct {
	t    *testing.T
	id   string
	url  string
	args []string
	env  []string
	cmd  *exec.Cmd
	log  *bytes.Buffer
	done chan struct{}
	// wrap, when set, starts berth through it (ip netns exec NS).
	wrap []string
	// token, when set, is sent with every call.
	token string
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newDaemon prepares a node with its own working and data dirs (the data
// dir is kept across restarts) and the given database.
func newDaemon(t *testing.T, id, dbURL string, extra ...string) *daemon {
	base := t.TempDir()
	addr := freePort(t)
	args := []string{"serve", "--listen", addr, "--node-id", id, "--data-dir", filepath.Join(base, "data"),
		"--poll-interval", "20ms", "--node-timeout", "2s", "--retry-backoff", "100ms", "--shutdown-grace", "2s"}
	if dbURL != "" {
		args = append(args, "--database-url", dbURL)
	}
	d := &daemon{t: t, id: id, url: "http://" + addr, args: append(args, extra...)}
	d.env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + base,
		"BERTH_WORKING_DIR=" + filepath.Join(base, "work"), "BERTH_CACHE_DIR=" + filepath.Join(base, "cache"),
		"BERTH_RUNNERS=trivial", "BERTH_SANDBOX=none",
		// The tests' webhook receivers listen on 127.0.0.1.
		"BERTH_OUTBOUND_ALLOW_LOOPBACK=true",
	}
	t.Cleanup(func() {
		d.kill()
		if t.Failed() {
			t.Logf("log of %s:\n%s", id, d.log)
		}
	})
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	argv := append(append(append([]string{}, d.wrap...), berthBin), d.args...)
	d.cmd = exec.Command(argv[0], argv[1:]...)
	d.cmd.Env = d.env
	if d.log == nil {
		d.log = &bytes.Buffer{}
	}
	d.cmd.Stdout, d.cmd.Stderr = &lockedWriter{w: d.log}, &lockedWriter{w: d.log}
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.done = make(chan struct{})
	go func() { d.cmd.Wait(); close(d.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(d.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-d.done:
			d.t.Fatalf("%s exited at start:\n%s", d.id, d.log)
		default:
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("%s did not answer /healthz within 30s:\n%s", d.id, d.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL to the daemon, as a crash or an OOM kill would.
func (d *daemon) kill() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
	d.cmd = nil
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

var logMu sync.Mutex

func (l *lockedWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	return l.w.Write(p)
}

type run struct {
	ID       string `json:"id"`
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
	Error    string `json:"error"`
	Node     string `json:"node"`
	Webhook  string `json:"webhookState"`
}

func (d *daemon) call(method, path string, body any, out any) int {
	d.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, d.url+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		d.t.Fatalf("%s %s = %d: %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			d.t.Fatal(err)
		}
	}
	return resp.StatusCode
}

func (d *daemon) install(dir string) string {
	var a struct{ ID string }
	d.call("POST", "/v1/addons", map[string]string{"path": dir}, &a)
	return a.ID
}

func (d *daemon) runAdhoc(addonID, args string) string {
	var r run
	d.call("POST", "/v1/runs", map[string]string{"addonId": addonID, "args": args}, &r)
	return r.ID
}

func (d *daemon) get(id string) run {
	var r run
	d.call("GET", "/v1/runs/"+id, nil, &r)
	return r
}

func (d *daemon) waitFor(id, what string, cond func(run) bool) run {
	d.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		r := d.get(id)
		if cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("run %s is %s (attempts %d, %q); waited for %s", id, r.State, r.Attempts, r.Error, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func final(r run) bool {
	return r.State == "succeeded" || r.State == "failed" || r.State == "cancelled"
}

func fixture(name string) string {
	p, _ := filepath.Abs(filepath.Join("..", "testdata", "addons", name))
	return p
}

func TestKillDuringARunThenRestart(t *testing.T) {
	d := newDaemon(t, "solo", "", "--concurrency", "1")
	d.start()
	pure, impure := d.install(fixture("sleep")), d.install(fixture("impure-sleep"))

	t.Run("a pure run is run again and later queued runs are not lost", func(t *testing.T) {
		long := d.runAdhoc(pure, "2")
		d.waitFor(long, "running", func(r run) bool { return r.State == "running" })
		queued := []string{d.runAdhoc(pure, "0"), d.runAdhoc(pure, "0")}
		d.kill()
		d.start()
		r := d.waitFor(long, "the end", final)
		if r.State != "succeeded" || r.Attempts != 2 {
			t.Fatalf("interrupted pure run = %+v, want succeeded on attempt 2", r)
		}
		for _, id := range queued {
			if r := d.waitFor(id, "the end", final); r.State != "succeeded" || r.Attempts != 1 {
				t.Fatalf("queued run = %+v, want succeeded once", r)
			}
		}
	})
	t.Run("an impure run fails with the reason and is not repeated", func(t *testing.T) {
		id := d.runAdhoc(impure, "2")
		d.waitFor(id, "running", func(r run) bool { return r.State == "running" })
		d.kill()
		d.start()
		r := d.waitFor(id, "the end", final)
		if r.State != "failed" || r.Attempts != 1 || !strings.Contains(r.Error, "interrupted") || !strings.Contains(r.Error, "impure") {
			t.Fatalf("interrupted impure run = %+v, want failed after 1 attempt, saying it was interrupted and is impure", r)
		}
	})
}

func TestTwoNodesShareOnePostgresQueue(t *testing.T) {
	db := storetest.Postgres(t)
	n1 := newDaemon(t, "node-1", db, "--concurrency", "2")
	n2 := newDaemon(t, "node-2", db, "--concurrency", "2")
	n1.start()
	n2.start()
	record := n1.install(fixture("record"))
	sleep := n1.install(fixture("sleep"))
	tally := filepath.Join(t.TempDir(), "executions")

	t.Run("200 runs are each done exactly once, by both nodes", func(t *testing.T) {
		var ids []string
		for i := range 200 {
			via := n1
			if i%2 == 1 {
				via = n2
			}
			ids = append(ids, via.runAdhoc(record, tally))
		}
		byNode := map[string]int{}
		for _, id := range ids {
			r := n1.waitFor(id, "the end", final)
			if r.State != "succeeded" || r.Attempts != 1 {
				t.Fatalf("run %+v, want succeeded on its only attempt", r)
			}
			byNode[r.Node]++
		}
		data, _ := os.ReadFile(tally)
		if lines := strings.Count(string(data), "\n"); lines != 200 {
			t.Fatalf("the addon ran %d times for 200 runs", lines)
		}
		if byNode["node-1"] == 0 || byNode["node-2"] == 0 {
			t.Fatalf("runs by node = %v, want both nodes to work", byNode)
		}
		t.Logf("runs by node: %v", byNode)
	})
	t.Run("when one node is killed the other finishes its runs", func(t *testing.T) {
		var ids []string
		for range 12 {
			ids = append(ids, n1.runAdhoc(sleep, "1"))
		}
		// Wait until node-2 is in the middle of a run, then kill it.
		deadline := time.Now().Add(30 * time.Second)
		for {
			busy := false
			for _, id := range ids {
				if r := n1.get(id); r.State == "running" && r.Node == "node-2" {
					busy = true
				}
			}
			if busy {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("node-2 never ran a run")
			}
			time.Sleep(20 * time.Millisecond)
		}
		n2.kill()
		rerun := 0
		for _, id := range ids {
			r := n1.waitFor(id, "the end", final)
			if r.State != "succeeded" {
				t.Fatalf("run %+v, want succeeded", r)
			}
			if r.Attempts == 2 {
				rerun++
				if r.Node != "node-1" {
					t.Fatalf("run %+v was re-run by %s, want node-1", r, r.Node)
				}
			}
		}
		if rerun == 0 {
			t.Fatal("no run was interrupted and re-run, want node-2's")
		}
	})
}
