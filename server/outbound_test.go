package server_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/server/settings"
)

// recorder is an HTTP server on loopback that counts the requests to
// each path and answers 200 (or serves body).
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

func newRecorder(t *testing.T, body []byte, routes map[string]http.Handler) *recorder {
	t.Helper()
	rec := &recorder{hits: map[string]int{}}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.hits[r.URL.Path]++
		rec.mu.Unlock()
		if h, ok := routes[r.URL.Path]; ok {
			h.ServeHTTP(w, r)
			return
		}
		w.Write(body)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) count(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits[path]
}

func (r *recorder) port() string { return r.URL[strings.LastIndex(r.URL, ":")+1:] }

// TestWebhooksToMetadataAndToBerthItselfAreRefused performs the webhook
// SSRF of issue 18: run configurations and ad-hoc runs took webhooks to
// cloud metadata services, to 0.0.0.0 (this machine) and to berth's own
// API, and posted each run there.
func TestWebhooksToMetadataAndToBerthItselfAreRefused(t *testing.T) {
	n := startNode(t, nodeOpts{}) // loopback allowed: berth's own address must still be refused
	a := n.install(hello())
	own := strings.TrimPrefix(n.URL, "http://127.0.0.1:")
	for _, c := range []struct{ hook, reason string }{
		{"http://169.254.169.254/latest/meta-data/iam/security-credentials/", "link-local"},
		{"http://[fd00:ec2::254]/latest/meta-data/", "metadata"},
		{"http://metadata.google.internal/computeMetadata/v1/?recursive=true", "metadata service"},
		{"http://0.0.0.0:22/", "unspecified address"},
		{"http://[::]:" + own + "/v1/addons", "unspecified address"},
		{n.URL + "/v1/addons", "berth's own API"},
		{"http://localhost:" + own + "/v1/runs", "berth's own API"},
		{"http://[::ffff:127.0.0.1]:" + own + "/v1/runs", "berth's own API"},
		{"http://10.1.2.3/hook", "outbound.allow-private"},
	} {
		t.Run("a run configuration with the webhook "+c.hook+" is refused", func(t *testing.T) {
			var e apiErr
			body := map[string]any{"name": "x", "enabled": true, "trigger": []string{"existing-item"}, "webhook": c.hook, "addons": []map[string]string{{"addonId": a.ID}}}
			if got := n.call("POST", "/v1/run-configs", body, &e); got != 422 || e.Error.Code != "validation_failed" || !strings.Contains(e.Error.Message, c.reason) {
				t.Fatalf("= %d %+v, want 422 validation_failed saying %q", got, e.Error, c.reason)
			}
			if strings.Contains(e.Error.Message, "recursive=true") {
				t.Errorf("message %q shows the webhook's query", e.Error.Message)
			}
		})
		t.Run("an ad-hoc run with the webhook "+c.hook+" is refused", func(t *testing.T) {
			var e apiErr
			if got := n.call("POST", "/v1/runs", map[string]any{"addonId": a.ID, "webhook": c.hook}, &e); got != 422 || e.Error.Code != "validation_failed" || !strings.Contains(e.Error.Message, c.reason) {
				t.Fatalf("= %d %+v, want 422 validation_failed saying %q", got, e.Error, c.reason)
			}
		})
	}
}

// TestAWebhookIsCheckedOnEveryRedirectAndAtDelivery performs the rest of
// the webhook SSRF: a webhook that passes the checks when the run is
// created redirects to a denied URL or to berth itself (307 keeps the
// POST and its body), or is denied by a url-deny set after it was stored.
func TestAWebhookIsCheckedOnEveryRedirectAndAtDelivery(t *testing.T) {
	target := newRecorder(t, nil, nil)
	dataDir := t.TempDir()
	n := startNode(t, nodeOpts{dataDir: dataDir, set: func(s *settings.Serve) { s.URLDeny = []string{"*/denied*"} }})
	a := n.install(hello())
	hook := newRecorder(t, nil, map[string]http.Handler{
		"/to-denied": http.RedirectHandler(target.URL+"/denied", http.StatusTemporaryRedirect),
		"/to-berth":  http.RedirectHandler(n.URL+"/v1/addons", http.StatusTemporaryRedirect),
	})
	for _, c := range []struct{ path, reason string }{
		{"/to-denied", `deny pattern "*/denied*"`},
		{"/to-berth", "berth's own API"},
	} {
		t.Run("a webhook redirecting "+c.path+" is refused at the redirect", func(t *testing.T) {
			var r runV
			n.mustCall(202, "POST", "/v1/runs", map[string]any{"addonId": a.ID, "webhook": hook.URL + c.path}, &r)
			r = n.wait(r.ID, "the webhook delivery ended", func(r runV) bool { return strings.HasPrefix(r.Webhook, "failed") || r.Webhook == "delivered" })
			if !strings.HasPrefix(r.Webhook, "failed: refused by the outbound policy") || !strings.Contains(r.Webhook, c.reason) {
				t.Errorf("webhookState = %q, want a refusal saying %q", r.Webhook, c.reason)
			}
			if hook.count(c.path) != 1 {
				t.Errorf("the webhook was called %d times, want once (a refusal is not retried)", hook.count(c.path))
			}
		})
	}
	if target.count("/denied") != 0 {
		t.Errorf("the denied redirect target got %d requests", target.count("/denied"))
	}

	t.Run("a stored webhook that url-deny now covers is refused at delivery", func(t *testing.T) {
		cid := n.config(map[string]any{"name": "hooked", "enabled": true, "trigger": []string{"existing-item"}, "webhook": target.URL + "/later", "addons": []map[string]string{{"addonId": a.ID}}})
		n.stop()
		later := startNode(t, nodeOpts{dataDir: dataDir, set: func(s *settings.Serve) { s.URLDeny = []string{"*/later"} }})
		var r runV
		later.mustCall(202, "POST", "/v1/runs", map[string]any{"configId": cid}, &r)
		r = later.wait(r.ID, "the webhook delivery ended", func(r runV) bool { return strings.HasPrefix(r.Webhook, "failed") || r.Webhook == "delivered" })
		if !strings.Contains(r.Webhook, `deny pattern "*/later"`) {
			t.Errorf("webhookState = %q, want the refusal by the new deny pattern", r.Webhook)
		}
		if target.count("/later") != 0 {
			t.Errorf("the webhook got %d deliveries", target.count("/later"))
		}
	})
}

// TestAWebhookThatURLDenyCoversIsRefused: webhooks used to ignore
// url-deny.
func TestAWebhookThatURLDenyCoversIsRefused(t *testing.T) {
	hook := newRecorder(t, nil, nil)
	n := startNode(t, nodeOpts{set: func(s *settings.Serve) { s.URLDeny = []string{"http://127.0.0.1:" + hook.port() + "/*"} }})
	a := n.install(hello())
	for _, u := range []string{hook.URL + "/hook", "http://localhost:" + hook.port() + "/hook"} {
		t.Run(u+" is refused", func(t *testing.T) {
			var e apiErr
			if got := n.call("POST", "/v1/runs", map[string]any{"addonId": a.ID, "webhook": u}, &e); got != 422 || !strings.Contains(e.Error.Message, "serve.url-deny") {
				t.Fatalf("= %d %+v, want 422 naming serve.url-deny", got, e.Error)
			}
		})
	}
}

// TestAnAddonURLIsCheckedOnEveryRedirectAndByAddress performs the
// url-deny bypass of issue 18 against the daemon's install endpoint.
func TestAnAddonURLIsCheckedOnEveryRedirectAndByAddress(t *testing.T) {
	zipped := zipDir(t, hello())
	var files *recorder
	files = newRecorder(t, zipped, map[string]http.Handler{
		"/start.zip": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, files.URL+"/denied/hello.zip", http.StatusFound)
		}),
	})
	n := startNode(t, nodeOpts{set: func(s *settings.Serve) {
		s.URLDeny = []string{"*/denied/*", "http://127.0.0.1:" + files.port() + "/by-address/*"}
	}})
	for _, c := range []struct{ name, url, reason string }{
		{"a URL redirecting to a denied one", files.URL + "/start.zip", `deny pattern "*/denied/*"`},
		{"localhost for a pattern written for 127.0.0.1", "http://localhost:" + files.port() + "/by-address/hello.zip", "serve.url-deny"},
		{"IPv4-mapped IPv6 for a pattern written for 127.0.0.1", "http://[::ffff:127.0.0.1]:" + files.port() + "/by-address/hello.zip", "serve.url-deny"},
	} {
		t.Run(c.name+" is refused", func(t *testing.T) {
			var e apiErr
			if got := n.call("POST", "/v1/addons", map[string]string{"url": c.url}, &e); got != 403 || e.Error.Code != "forbidden" || !strings.Contains(e.Error.Message, c.reason) {
				t.Fatalf("= %d %+v, want 403 forbidden saying %q", got, e.Error, c.reason)
			}
		})
	}
	if got := files.count("/denied/hello.zip") + files.count("/by-address/hello.zip"); got != 0 {
		t.Errorf("denied URLs were fetched %d times", got)
	}
}
