package server_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Issue 18, "Secrets in plain view": an addon installed from a URL with
// a password and a query token showed both in the API's source (and so
// in every client's output). The daemon keeps the URL whole, to fetch
// updates, and shows it without them.
func TestAnAddonSourceShowsNoPasswordOrQueryToken(t *testing.T) {
	const password, token = "pw-Secret-4711", "tok-Secret-0815"
	zipped := zipDir(t, hello())
	var fetches int
	var mu sync.Mutex
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pw, _ := r.BasicAuth(); pw != password || r.URL.Query().Get("token") != token {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		fetches++
		mu.Unlock()
		w.Write(zipped)
	}))
	defer files.Close()
	log := &syncBuffer{}
	n := startNode(t, nodeOpts{log: log})
	src := strings.Replace(files.URL, "http://", "http://berth:"+password+"@", 1) + "/hello.zip?token=" + token + "&v=1"

	raw := func(method, path string, body any) string {
		t.Helper()
		req, _ := http.NewRequest(method, n.URL+path, strings.NewReader(body.(string)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s = %d: %s", method, path, resp.StatusCode, b)
		}
		return string(b)
	}
	var a addonV
	n.mustCall(201, "POST", "/v1/addons", map[string]string{"url": src}, &a)
	answers := map[string]string{
		"GET /v1/addons/{id}":         raw("GET", "/v1/addons/"+a.ID, ""),
		"GET /v1/addons":              raw("GET", "/v1/addons", ""),
		"PUT /v1/addons/{id} (again)": raw("PUT", "/v1/addons/"+a.ID, ""),
	}
	mu.Lock()
	if fetches != 2 {
		t.Errorf("the addon was fetched %d times, want 2 (install and update, with the secrets)", fetches)
	}
	mu.Unlock()
	answers["the daemon's log"] = log.String()
	for what, text := range answers {
		if strings.Contains(text, password) || strings.Contains(text, token) {
			t.Errorf("%s shows a secret of the source URL:\n%s", what, text)
		}
	}
	if !strings.Contains(answers["GET /v1/addons/{id}"], strings.TrimPrefix(files.URL, "http://")+"/hello.zip") {
		t.Errorf("the source no longer says where the addon came from:\n%s", answers["GET /v1/addons/{id}"])
	}
}
