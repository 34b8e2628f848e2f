package outbound

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	self := netip.MustParseAddrPort("127.0.0.1:8470")
	anyPort := netip.MustParseAddrPort("0.0.0.0:9999")
	tests := []struct {
		name   string
		policy Policy
		url    string
		want   string // "" means allowed; else a part of the refusal
	}{
		{"a public address is allowed by default", *Default(), "https://93.184.216.34/a.zip", ""},
		{"a scheme other than http(s) is refused", *Default(), "file:///etc/passwd", "only http and https"},
		{"a URL without a host is refused", *Default(), "http:///x", "has no host"},
		{"the zero policy allows no URL", Policy{}, "https://93.184.216.34/a.zip", "matches no allow pattern (serve.url-allow)"},
		{"AWS's metadata address is refused", *Default(), "http://169.254.169.254/latest/meta-data/", "link-local"},
		{"link-local IPv6 is refused", *Default(), "http://[fe80::1]/", "link-local"},
		{"AWS's IPv6 metadata address is refused even with private ranges allowed", Policy{Allow: []string{"*"}, AllowPrivate: true}, "http://[fd00:ec2::254]/latest/", "cloud metadata address"},
		{"Alibaba's metadata address is refused even with private ranges allowed", Policy{Allow: []string{"*"}, AllowPrivate: true}, "http://100.100.100.200/latest/meta-data/", "cloud metadata address"},
		{"GCE's metadata name is refused unresolved", *Default(), "http://metadata.google.internal/computeMetadata/v1/", "metadata service"},
		{"a metadata name in upper case with a trailing dot is refused", *Default(), "http://METADATA.google.internal./", "metadata service"},
		{"0.0.0.0 (this machine) is refused", Policy{Allow: []string{"*"}, AllowLoopback: true, AllowPrivate: true}, "http://0.0.0.0:22/", "unspecified address"},
		{"0.1.2.3 is refused", *Default(), "http://0.1.2.3/", "unspecified address"},
		{":: is refused", Policy{Allow: []string{"*"}, AllowLoopback: true}, "http://[::]:22/", "unspecified address"},
		{"broadcast is refused", *Default(), "http://255.255.255.255/", "broadcast"},
		{"loopback is refused by default", *Default(), "http://127.0.0.1:8080/", "outbound.allow-loopback"},
		{"loopback written as IPv4-mapped IPv6 is refused", *Default(), "http://[::ffff:127.0.0.1]:8080/", "127.0.0.1:8080 is a loopback address"},
		{"loopback written as NAT64 is refused", *Default(), "http://[64:ff9b::7f00:1]:8080/", "127.0.0.1:8080 is a loopback address"},
		{"localhost is refused by default", *Default(), "http://localhost:8080/", "loopback"},
		{"::1 is refused by default", *Default(), "http://[::1]:8080/", "loopback"},
		{"loopback is allowed when configured", Policy{Allow: []string{"*"}, AllowLoopback: true}, "http://127.0.0.1:8080/", ""},
		{"a private address is refused by default", *Default(), "http://192.168.1.20/hook", "outbound.allow-private"},
		{"carrier-grade NAT is private", *Default(), "http://100.64.1.1/hook", "private"},
		{"a unique local IPv6 address is private", *Default(), "http://[fd12::1]/hook", "private"},
		{"a private address is allowed when configured", Policy{Allow: []string{"*"}, AllowPrivate: true}, "http://10.1.2.3/hook", ""},
		{"a private address in allow-nets is allowed", Policy{Allow: []string{"*"}, AllowNets: []netip.Prefix{netip.MustParsePrefix("192.168.1.20/32")}}, "http://192.168.1.20/hook", ""},
		{"a private address outside allow-nets is refused", Policy{Allow: []string{"*"}, AllowNets: []netip.Prefix{netip.MustParsePrefix("192.168.1.20/32")}}, "http://192.168.1.21/hook", "private"},
		{"allow-nets do not lift link-local", Policy{Allow: []string{"*"}, AllowNets: []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16")}}, "http://169.254.169.254/", "link-local"},
		{"berth's own address is refused with loopback allowed", Policy{Allow: []string{"*"}, AllowLoopback: true, Self: []netip.AddrPort{self}}, "http://127.0.0.1:8470/v1/runs", "berth's own API"},
		{"berth's own address by name is refused", Policy{Allow: []string{"*"}, AllowLoopback: true, Self: []netip.AddrPort{self}}, "http://localhost:8470/v1/runs", "berth's own API"},
		{"another port on loopback is not berth's", Policy{Allow: []string{"*"}, AllowLoopback: true, Self: []netip.AddrPort{self}}, "http://127.0.0.1:8471/", ""},
		{"a berth listening on every address is refused on loopback", Policy{Allow: []string{"*"}, AllowLoopback: true, Self: []netip.AddrPort{anyPort}}, "http://127.0.0.9:9999/", "berth's own API"},
		{"a deny pattern matches the text", Policy{Allow: []string{"*"}, Deny: []string{"*/denied/*"}}, "https://93.184.216.34/denied/a.zip", `deny pattern "*/denied/*"`},
		{"a deny pattern for an address matches its IPv4-mapped form", Policy{Allow: []string{"*"}, AllowLoopback: true, Deny: []string{"http://127.0.0.1:*"}}, "http://[::ffff:127.0.0.1]:8080/a.zip", "as http://127.0.0.1:8080/a.zip"},
		{"a deny pattern for an address matches a name resolving to it", Policy{Allow: []string{"*"}, AllowLoopback: true, Deny: []string{"http://127.0.0.1:*"}}, "http://localhost:8080/a.zip", "as http://127.0.0.1:8080/a.zip"},
		{"a deny pattern in lower case matches an upper-case host", Policy{Allow: []string{"*"}, Deny: []string{"https://example.org/*"}}, "https://EXAMPLE.org/a.zip", "deny pattern"},
		{"an allow pattern for a name does not let another name through", Policy{Allow: []string{"https://example.org/*"}}, "https://93.184.216.34/a.zip", "matches no allow pattern"},
		{"a refusal does not show the query", Policy{Allow: []string{"*"}, Deny: []string{"*"}}, "https://93.184.216.34/a.zip?token=hunter2", "?xxxxx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Check(context.Background(), tt.url)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Check(%s) = %v, want it allowed", tt.url, err)
			case tt.want == "":
				return
			case err == nil:
				t.Fatalf("Check(%s) allowed it, want a refusal saying %q", tt.url, tt.want)
			}
			if !errors.Is(err, ErrDenied) {
				t.Errorf("error %v does not wrap ErrDenied", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the URL's token", err)
			}
		})
	}
}

func TestSelfAddrs(t *testing.T) {
	tests := []struct {
		listen string
		want   []string
	}{
		{"127.0.0.1:8470", []string{"127.0.0.1:8470"}},
		{"localhost:8470", []string{"127.0.0.1:8470", "[::1]:8470"}},
		{":8470", []string{"0.0.0.0:8470"}},
		{"[::ffff:10.0.0.1]:80", []string{"10.0.0.1:80"}},
		{"127.0.0.1:0", nil},
		{"berth.example:8470", nil},
		{"nonsense", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, a := range SelfAddrs(tt.listen) {
			got = append(got, a.String())
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("SelfAddrs(%q) = %v, want %v", tt.listen, got, tt.want)
		}
	}
}

// TestDoChecksTheAddressItConnectsTo performs DNS rebinding: the name
// resolves to a public address when it is checked and to loopback when
// berth connects. The dialer must refuse the connection.
func TestDoChecksTheAddressItConnectsTo(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	p := Default()
	// The rebinding server's first answer; the dialer resolves
	// "localhost" for real, to 127.0.0.1.
	p.lookup = func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
	}
	target := "http://localhost:" + u.Port() + "/hook?token=hunter2"
	if err := p.Check(context.Background(), target); err != nil {
		t.Fatalf("Check with the first answer = %v, want it allowed (the attack's premise)", err)
	}
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader("{}"))
	resp, err := p.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("Do reached the loopback server through the rebound name")
	}
	if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("error %q is not the policy's refusal of loopback", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q shows the URL's token", err)
	}
	if hits.Load() != 0 {
		t.Errorf("the server got %d requests", hits.Load())
	}
}

func TestDo(t *testing.T) {
	var lastReferer atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("/final", func(w http.ResponseWriter, r *http.Request) {
		lastReferer.Store(r.Header.Get("Referer"))
		io.WriteString(w, "ok")
	})
	mux.Handle("/hop", http.RedirectHandler("/final", http.StatusFound))
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/silent", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("/no-headers", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p := Default()
	p.AllowLoopback = true
	p.IdleTimeout = 200 * time.Millisecond
	get := func(path string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path+"?token=hunter2", nil)
		resp, err := p.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	t.Run("a redirect is followed without a Referer", func(t *testing.T) {
		body, err := get("/hop")
		if err != nil || body != "ok" {
			t.Fatalf("= %q, %v", body, err)
		}
		if ref := lastReferer.Load(); ref != "" {
			t.Errorf("the redirect target got Referer %q", ref)
		}
	})
	t.Run("a redirect loop stops", func(t *testing.T) {
		if _, err := get("/loop"); err == nil || !strings.Contains(err.Error(), "stopped after 10 redirects") {
			t.Fatalf("= %v, want the redirect limit", err)
		}
	})
	for _, path := range []string{"/silent", "/no-headers"} {
		t.Run("a server silent at "+path+" fails with the idle timeout", func(t *testing.T) {
			_, err := get(path)
			if _, ok := errors.AsType[*IdleError](err); !ok || !strings.Contains(err.Error(), "outbound.idle-timeout") {
				t.Fatalf("= %v, want an *IdleError", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the URL's token", err)
			}
		})
	}
}
