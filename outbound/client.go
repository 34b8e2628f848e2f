package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"sync"
	"syscall"
	"time"
)

// MaxRedirects is how many redirects Do follows.
const MaxRedirects = 10

// Do sends req under the policy and returns the answer. The URL and every
// redirect hop are checked with Check; every connection is checked
// again, in the dialer, on the address it reaches (so DNS rebinding gains
// nothing); no Referer is sent; no proxy is used (it would connect to
// addresses berth cannot check); a connection silent for IdleTimeout
// fails. req's context bounds the whole exchange, body included. An error
// wraps a *DeniedError when the policy refused, and never shows the URL's
// password or query.
func (p *Policy) Do(req *http.Request) (*http.Response, error) {
	if err := p.check(req.Context(), req.URL); err != nil {
		return nil, err
	}
	req.Header.Del("Referer")
	var mu sync.Mutex
	current := req.URL
	dialer := &net.Dialer{
		Timeout: p.connectTimeout(),
		// Control runs after resolution, just before connect: address is
		// the IP the socket is about to reach.
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			mu.Lock()
			u := current
			mu.Unlock()
			if err != nil {
				return &DeniedError{URL: Redact(u), Reason: fmt.Sprintf("connecting to %q, which is not an address", address)}
			}
			return p.checkConn(u, ap)
		},
	}
	idle := p.idleTimeout()
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &idleConn{Conn: c, idle: idle}, nil
		},
		TLSHandshakeTimeout:    p.connectTimeout(),
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 1 << 20,
	}
	client := &http.Client{
		Transport: tr,
		CheckRedirect: func(next *http.Request, via []*http.Request) error {
			// net/http has set a Referer (the previous URL, query and
			// all) by now.
			next.Header.Del("Referer")
			if len(via) >= MaxRedirects {
				return fmt.Errorf("stopped after %d redirects", MaxRedirects)
			}
			if err := p.check(next.Context(), next.URL); err != nil {
				return fmt.Errorf("redirected: %w", err)
			}
			mu.Lock()
			current = next.URL
			mu.Unlock()
			return nil
		},
	}
	resp, err := client.Do(req)
	if ue, ok := errors.AsType[*url.Error](err); ok {
		if u, perr := url.Parse(ue.URL); perr == nil {
			ue.URL = Redact(u)
		} else {
			ue.URL = "(URL)"
		}
	}
	return resp, err
}

// IdleError is the error of a read or write on a connection that stayed
// silent for longer than the idle timeout.
type IdleError struct {
	Idle time.Duration
	Err  error
}

func (e *IdleError) Error() string {
	return fmt.Sprintf("the connection was silent for %v (outbound.idle-timeout)", e.Idle)
}

func (e *IdleError) Unwrap() error { return e.Err }

// Timeout reports true, as the deadline error it wraps does.
func (e *IdleError) Timeout() bool { return true }

// idleConn fails a read or write that waits longer than idle.
type idleConn struct {
	net.Conn
	idle time.Duration
}

func (c *idleConn) Read(b []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	return n, c.wrap(err)
}

func (c *idleConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(b)
	return n, c.wrap(err)
}

func (c *idleConn) wrap(err error) error {
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return &IdleError{Idle: c.idle, Err: err}
	}
	return err
}
