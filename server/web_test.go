package server_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-dev/berth/server/settings"
)

func TestTheConsoleIsServedByBerthAloneAndHoldsNoData(t *testing.T) {
	const token = "console-token-0123456789"
	n := startNode(t, nodeOpts{set: func(s *settings.Serve) { s.Tokens = []string{token} }})
	// Any absolute URL in the page or its assets would be a third-party
	// request (or a link out): there must be none but the examples the
	// forms show as placeholders.
	external := regexp.MustCompile(`(src|href|url\()\s*=?\s*["']?(https?:)?//`)
	for _, c := range []struct{ path, ctype string }{
		{"/", "text/html"}, {"/ui/runs/run_x", "text/html"}, {"/ui/assets/app.js", "text/javascript"}, {"/ui/assets/app.css", "text/css"},
	} {
		t.Run(c.path+" is served without a token", func(t *testing.T) {
			resp, err := http.Get(n.URL + c.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) {
				t.Fatalf("= %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
				t.Errorf("CSP = %q", csp)
			}
			if m := external.FindString(string(body)); m != "" {
				t.Errorf("%s refers to another site: %q", c.path, m)
			}
		})
	}
	t.Run("the API behind it still needs the token", func(t *testing.T) {
		resp, err := http.Get(n.URL + "/v1/runs")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("GET /v1/runs without a token = %d", resp.StatusCode)
		}
	})
	t.Run("an unknown asset is a JSON 404", func(t *testing.T) {
		var e apiErr
		if code := n.call("GET", "/ui/assets/nope.js", nil, &e); code != 404 || e.Error.Code != "not_found" {
			t.Fatalf("= %d %+v", code, e)
		}
	})
}
