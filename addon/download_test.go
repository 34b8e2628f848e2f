package addon

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/outbound"
)

// loopbackPolicy is the default policy with loopback allowed, as the
// tests' servers listen on 127.0.0.1.
func loopbackPolicy() *outbound.Policy {
	p := outbound.Default()
	p.AllowLoopback = true
	return p
}

// fetchWithin runs Fetch and fails the test when it has not returned
// within a minute (the attacks below made it hang for ever).
func fetchWithin(t *testing.T, source string, lim Limits, pol *outbound.Policy) (string, func(), error) {
	t.Helper()
	type result struct {
		dir     string
		cleanup func()
		err     error
	}
	done := make(chan result, 1)
	go func() {
		dir, cleanup, err := Fetch(context.Background(), source, t.TempDir(), lim, pol)
		done <- result{dir, cleanup, err}
	}()
	select {
	case r := <-done:
		return r.dir, r.cleanup, r.err
	case <-time.After(time.Minute):
		t.Fatalf("Fetch(%s) had not returned after a minute", source)
		return "", nil, nil
	}
}

// TestADownloadChecksEveryRedirectHop performs the url-deny bypass of
// issue 18: the first URL passes the deny pattern, its redirect does not.
func TestADownloadChecksEveryRedirectHop(t *testing.T) {
	base := t.TempDir()
	zipTree(t, filepath.Join(base, "hello.zip"), helloDir(t), "hello/")
	var mu sync.Mutex
	var hits []string
	referers := map[string]string{}
	mux := http.NewServeMux()
	mux.HandleFunc("/denied/hello.zip", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, r.URL.Path)
		referers[r.URL.Path] = r.Header.Get("Referer")
		mu.Unlock()
		http.ServeFile(w, r, filepath.Join(base, "hello.zip"))
	})
	mux.HandleFunc("/ok/hello.zip", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		referers[r.URL.Path] = r.Header.Get("Referer")
		mu.Unlock()
		http.ServeFile(w, r, filepath.Join(base, "hello.zip"))
	})
	mux.Handle("/start.zip", http.RedirectHandler("/denied/hello.zip", http.StatusFound))
	mux.Handle("/fine.zip", http.RedirectHandler("/ok/hello.zip", http.StatusFound))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	pol := loopbackPolicy()
	pol.Deny = []string{"*/denied/*"}

	t.Run("a redirect to a denied URL is refused and the denied URL is never fetched", func(t *testing.T) {
		dir, cleanup, err := fetchWithin(t, srv.URL+"/start.zip?token=hunter2", Limits{}, pol)
		if err == nil {
			cleanup()
			t.Fatalf("Fetch followed the redirect to a denied URL and unpacked it in %s", dir)
		}
		if !errors.Is(err, outbound.ErrDenied) || !strings.Contains(err.Error(), `deny pattern "*/denied/*"`) {
			t.Errorf("error %q does not say the deny pattern refused the redirect", err)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %q shows the URL's token", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(hits) != 0 {
			t.Errorf("the denied URL was requested: %v", hits)
		}
	})
	t.Run("an allowed redirect is followed without a Referer", func(t *testing.T) {
		_, cleanup, err := fetchWithin(t, srv.URL+"/fine.zip?token=hunter2", Limits{}, pol)
		if err != nil {
			t.Fatal(err)
		}
		cleanup()
		mu.Lock()
		defer mu.Unlock()
		ref, ok := referers["/ok/hello.zip"]
		if !ok {
			t.Fatal("the redirect target was not requested")
		}
		if ref != "" {
			t.Errorf("the redirect target got Referer %q (the first URL, token and all)", ref)
		}
	})
}

// TestADenyPatternForAnAddressCatchesItsOtherSpellings performs the
// bypass of issue 18: names and IPv4-mapped IPv6 for a denied address.
func TestADenyPatternForAnAddressCatchesItsOtherSpellings(t *testing.T) {
	base := t.TempDir()
	zipTree(t, filepath.Join(base, "hello.zip"), helloDir(t), "hello/")
	var mu sync.Mutex
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		http.ServeFile(w, r, filepath.Join(base, "hello.zip"))
	}))
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	pol := loopbackPolicy()
	pol.Deny = []string{"http://127.0.0.1:*"}
	for _, u := range []string{
		"http://localhost:" + port + "/hello.zip",
		"http://[::ffff:127.0.0.1]:" + port + "/hello.zip",
		"http://LOCALHOST.:" + port + "/hello.zip",
		"HTTP://127.0.0.1:" + port + "/hello.zip",
	} {
		t.Run(u+" is refused", func(t *testing.T) {
			mu.Lock()
			before := hits
			mu.Unlock()
			dir, cleanup, err := fetchWithin(t, u, Limits{}, pol)
			if err == nil {
				cleanup()
				t.Fatalf("Fetch(%s) passed the deny pattern http://127.0.0.1:* and unpacked into %s", u, dir)
			}
			if !errors.Is(err, outbound.ErrDenied) {
				t.Errorf("error %q is not a refusal of the policy", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if hits != before {
				t.Errorf("the server was reached")
			}
		})
	}
}

// TestADownloadFromAPrivateAddressNeedsItAllowed: the default policy
// refuses loopback (the test server's address); allowing it lets the
// same download through.
func TestADownloadFromALoopbackAddressNeedsItAllowed(t *testing.T) {
	base := t.TempDir()
	zipTree(t, filepath.Join(base, "hello.zip"), helloDir(t), "hello/")
	srv := httptest.NewServer(http.FileServer(http.Dir(base)))
	t.Cleanup(srv.Close)
	_, _, err := fetchWithin(t, srv.URL+"/hello.zip", Limits{}, nil)
	if !errors.Is(err, outbound.ErrDenied) || !strings.Contains(err.Error(), "outbound.allow-loopback") {
		t.Errorf("with the default policy Fetch = %v, want a refusal naming outbound.allow-loopback", err)
	}
	_, cleanup, err := fetchWithin(t, srv.URL+"/hello.zip", Limits{}, loopbackPolicy())
	if err != nil {
		t.Fatalf("with loopback allowed: %v", err)
	}
	cleanup()
}

// TestASlowServerCannotHoldADownloadForEver performs the trickle of
// issue 18: a server that sends a byte now and then, or nothing at all
// after its headers, used to hang `berth addon run URL` for ever.
func TestASlowServerCannotHoldADownloadForEver(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for r.URL.Path == "/trickle.zip" {
			select {
			case <-stop:
				return
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
				w.Write([]byte{'x'})
				w.(http.Flusher).Flush()
			}
		}
		select { // /silent.zip: nothing after the headers
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(stop); srv.Close() })
	cases := []struct {
		path string
		lim  Limits
		idle time.Duration
		want string
	}{
		{"/silent.zip", Limits{}, 300 * time.Millisecond, "silent for 300ms (outbound.idle-timeout)"},
		{"/trickle.zip", Limits{DownloadTimeout: 700 * time.Millisecond}, time.Second, "took longer than 700ms (outbound.download-timeout)"},
	}
	for _, c := range cases {
		t.Run(c.path+" fails the download", func(t *testing.T) {
			pol := loopbackPolicy()
			pol.IdleTimeout = c.idle
			_, cleanup, err := fetchWithin(t, srv.URL+c.path, c.lim, pol)
			if err == nil {
				cleanup()
				t.Fatal("Fetch succeeded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
}
