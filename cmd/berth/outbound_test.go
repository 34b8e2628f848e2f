package main_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// berthEnv runs the CLI like berth, with env added last (it wins), and
// fails the test when the command has not ended after a minute.
func berthEnv(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	tmp := t.TempDir()
	cmd := exec.Command(berthBin, args...)
	cmd.Env = append(append(os.Environ(), "BERTH_WORKING_DIR="+filepath.Join(tmp, "work"), "BERTH_CACHE_DIR="+filepath.Join(tmp, "cache"), "BERTH_SANDBOX=none"), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("berth %s had not ended after a minute", strings.Join(args, " "))
	}
	return cliResult{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

// TestAddonRunFromAURLFollowsTheOutboundPolicy: `berth addon run URL`
// refuses loopback unless configured, and a server that trickles a byte
// now and then (it used to hang the command for ever) fails the run with
// outbound.download-timeout.
func TestAddonRunFromAURLFollowsTheOutboundPolicy(t *testing.T) {
	data := zipDir(t, "../../examples/hello", "hello-main")
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/trickle.zip" {
			w.Write(data)
			return
		}
		w.Header().Set("Content-Length", "1000000")
		w.WriteHeader(http.StatusOK)
		for {
			w.Write([]byte{'x'})
			w.(http.Flusher).Flush()
			select {
			case <-stop:
				return
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}))
	t.Cleanup(func() { close(stop); srv.Close() })

	r := berthEnv(t, nil, "addon", "run", srv.URL+"/hello.zip")
	if r.code != 2 || !strings.Contains(r.stderr, "outbound.allow-loopback") {
		t.Errorf("by default: exit %d, stderr %q; want exit 2 naming outbound.allow-loopback", r.code, r.stderr)
	}
	r = berthEnv(t, []string{"BERTH_OUTBOUND_ALLOW_LOOPBACK=true"}, "addon", "run", srv.URL+"/hello.zip")
	if r.code != 0 || !strings.Contains(r.stdout, "result: success") {
		t.Errorf("with loopback allowed: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = berthEnv(t, []string{"BERTH_OUTBOUND_ALLOW_LOOPBACK=true", "BERTH_OUTBOUND_DOWNLOAD_TIMEOUT=1s"}, "addon", "run", srv.URL+"/trickle.zip")
	if r.code != 2 || !strings.Contains(r.stderr, "took longer than 1s (outbound.download-timeout)") {
		t.Errorf("a trickling server: exit %d, stderr %q; want exit 2 naming outbound.download-timeout", r.code, r.stderr)
	}
}
