package server_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/server/settings"
)

const connToken = "a-token-for-the-connection-tests"

// closedBy reports whether the server closes c (a read returns EOF or a
// reset) by deadline; it reads and discards what the server sends.
func closedBy(c net.Conn, deadline time.Time) bool {
	c.SetReadDeadline(deadline)
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func dial(t *testing.T, n *node) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(n.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// The issue: the API had only ReadHeaderTimeout, so an unauthenticated
// client's keep-alive connections stayed open for ever (one file
// descriptor each) and a slowly sent body held its handler for ever.
func TestConnectionsAreBoundedInTimeAndNumber(t *testing.T) {
	t.Run("idle keep-alive connections of unauthenticated clients are closed", func(t *testing.T) {
		n := startNode(t, nodeOpts{set: func(s *settings.Serve) {
			s.Tokens = []string{connToken}
			s.IdleTimeout = settings.Duration(300 * time.Millisecond)
		}})
		before := openFDs(t)
		var conns []net.Conn
		for range 50 {
			c := dial(t, n)
			fmt.Fprintf(c, "GET /v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
			conns = append(conns, c)
		}
		t.Logf("open descriptors: %d before, %d with 50 idle connections (both ends in this process)", before, openFDs(t))
		open, deadline := 0, time.Now().Add(10*time.Second)
		for _, c := range conns {
			if !closedBy(c, deadline) {
				open++
			}
		}
		if open > 0 {
			t.Fatalf("%d of 50 idle keep-alive connections were still open 10 s after idle-timeout (300 ms)", open)
		}
	})
	t.Run("a request whose body trickles in is cut off at request-timeout", func(t *testing.T) {
		n := startNode(t, nodeOpts{set: func(s *settings.Serve) {
			s.Tokens = []string{connToken}
			s.RequestTimeout = settings.Duration(300 * time.Millisecond)
		}})
		c := dial(t, n)
		fmt.Fprintf(c, "POST /v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", connToken)
		closed := make(chan bool, 1)
		go func() { closed <- closedBy(c, time.Now().Add(10*time.Second)) }()
		for range 20 {
			time.Sleep(100 * time.Millisecond)
			if _, err := c.Write([]byte(" ")); err != nil {
				break
			}
		}
		if !<-closed {
			t.Fatal("a body sent a byte every 100 ms held the connection for 10 s; request-timeout is 300 ms")
		}
	})
	t.Run("an upload may take longer than request-timeout, up to transfer-timeout", func(t *testing.T) {
		n := startNode(t, nodeOpts{set: func(s *settings.Serve) {
			s.Tokens = []string{connToken}
			s.RequestTimeout = settings.Duration(300 * time.Millisecond)
		}})
		body, ct := multipartBody(t, [][3]string{{"event", "", `{"trigger":"existing-item","item":{"id":"x"}}`}, {"original", "a.txt", strings.Repeat("x", 2000)}})
		pr, pw := io.Pipe()
		go func() {
			buf := make([]byte, 200)
			for {
				k, err := body.Read(buf)
				if k > 0 {
					time.Sleep(100 * time.Millisecond)
					pw.Write(buf[:k])
				}
				if err != nil {
					pw.Close()
					return
				}
			}
		}()
		req, _ := http.NewRequest("POST", n.URL+"/v1/events", pr)
		req.Header.Set("Content-Type", ct)
		var out struct{ Runs []any }
		if code := n.do(req, &out); code != http.StatusAccepted {
			t.Fatalf("a slow upload = %d, want 202", code)
		}
	})
	t.Run("connections over max-connections wait until one closes", func(t *testing.T) {
		n := startNode(t, nodeOpts{set: func(s *settings.Serve) {
			s.Tokens = []string{connToken}
			s.MaxConnections = 3
		}})
		var held []net.Conn
		for range 3 {
			c := dial(t, n)
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
			if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
		}
		client := &http.Client{Timeout: 500 * time.Millisecond}
		if resp, err := client.Get(n.URL + "/healthz"); err == nil {
			resp.Body.Close()
			t.Fatal("a fourth connection was served while three were open; max-connections is 3")
		}
		held[0].Close()
		client.Timeout = 10 * time.Second
		resp, err := client.Get(n.URL + "/healthz")
		if err != nil {
			t.Fatalf("after one of three connections closed: %v", err)
		}
		resp.Body.Close()
	})
}
