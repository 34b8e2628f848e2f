package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Default timeouts for a zero field of Policy.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultIdleTimeout    = 30 * time.Second
)

// Policy says which URLs berth may fetch or post to. The zero value
// allows no URL (Allow is empty); start from Default.
type Policy struct {
	// Allow lists URL patterns ('*' stands for any text) of which a URL
	// must match one; Deny lists patterns it must match none of. Both
	// are matched against the URL as given, with its scheme and host in
	// lower case, and with its host replaced by each address it resolves
	// to (IPv4-mapped IPv6 written as IPv4), so that a pattern written
	// for 127.0.0.1 also catches http://localhost/ and
	// http://[::ffff:127.0.0.1]/. Deny wins.
	Allow, Deny []string
	// AllowLoopback permits 127.0.0.0/8 and ::1.
	AllowLoopback bool
	// AllowPrivate permits the private ranges: 10.0.0.0/8, 172.16.0.0/12,
	// 192.168.0.0/16, 100.64.0.0/10 (carrier-grade NAT), 198.18.0.0/15
	// and fc00::/7.
	AllowPrivate bool
	// AllowNets permits loopback or private addresses within these
	// networks only (e.g. the one host that receives webhooks). They
	// never lift the addresses that are always refused.
	AllowNets []netip.Prefix
	// Self lists berth's own listen addresses; they are always refused.
	// An unspecified address (0.0.0.0:8470) stands for every address of
	// this machine at that port.
	Self []netip.AddrPort
	// ConnectTimeout bounds resolving and connecting (and the TLS
	// handshake); IdleTimeout is the longest a connection may stay
	// silent while berth waits for the answer or its body. Zero means
	// the defaults.
	ConnectTimeout, IdleTimeout time.Duration

	// lookup, when set, replaces DNS in Check (tests: the first answer
	// of a rebinding server).
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

// Default returns the policy used when nothing is configured: every URL
// pattern allowed, loopback and private ranges refused.
func Default() *Policy { return &Policy{Allow: []string{"*"}} }

// ErrDenied is wrapped by every refusal of a Policy.
var ErrDenied = errors.New("refused by the outbound policy")

// DeniedError is a refusal: URL is the URL refused, without its
// password and query values; Reason says why and which key to change.
type DeniedError struct {
	URL, Reason string
}

func (e *DeniedError) Error() string { return e.URL + ": " + e.Reason }

// Unwrap makes a DeniedError match ErrDenied.
func (e *DeniedError) Unwrap() error { return ErrDenied }

func (p *Policy) connectTimeout() time.Duration {
	if p.ConnectTimeout > 0 {
		return p.ConnectTimeout
	}
	return DefaultConnectTimeout
}

func (p *Policy) idleTimeout() time.Duration {
	if p.IdleTimeout > 0 {
		return p.IdleTimeout
	}
	return DefaultIdleTimeout
}

// Check reports whether rawURL may be fetched: an absolute http(s) URL
// whose text and resolved addresses pass the policy. A host that does
// not resolve now is not refused for that: the address is checked again
// when berth connects. It returns a *DeniedError for a refusal.
func (p *Policy) Check(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return &DeniedError{URL: "(unparsable URL)", Reason: "is not a URL: " + strings.ReplaceAll(err.Error(), rawURL, "…")}
	}
	return p.check(ctx, u)
}

func (p *Policy) check(ctx context.Context, u *url.URL) error {
	deny := func(format string, args ...any) error {
		return &DeniedError{URL: Redact(u), Reason: fmt.Sprintf(format, args...)}
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return deny("only http and https URLs are fetched")
	}
	host := hostName(u)
	if host == "" {
		return deny("has no host")
	}
	if metadataNames[host] {
		return deny("%s is a cloud metadata service: never reachable", host)
	}
	addrs, err := p.resolve(ctx, host)
	if err != nil {
		// The dialer checks whatever the connection resolves to.
		addrs = nil
	}
	port := portOf(u)
	for _, a := range addrs {
		if reason := p.addrReason(netip.AddrPortFrom(a, port)); reason != "" {
			return deny("%s", reason)
		}
	}
	return p.matchPatterns(u, addrs)
}

// resolve returns host's addresses: itself for an IP literal.
func (p *Policy) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.connectTimeout())
	defer cancel()
	if p.lookup != nil {
		return p.lookup(ctx, host)
	}
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// checkConn is the dialer's check of the address a connection for u is
// about to reach.
func (p *Policy) checkConn(u *url.URL, ap netip.AddrPort) error {
	if reason := p.addrReason(ap); reason != "" {
		return &DeniedError{URL: Redact(u), Reason: reason}
	}
	return p.matchPatterns(u, []netip.Addr{ap.Addr()})
}

// addrReason says why ap is refused, or "" when it is not.
func (p *Policy) addrReason(ap netip.AddrPort) string {
	a := canonical(ap.Addr())
	shown := netip.AddrPortFrom(a, ap.Port()).String()
	for _, s := range p.Self {
		if isSelf(s, a, ap.Port()) {
			return fmt.Sprintf("%s is berth's own API (serve.listen %s): never reachable", shown, s)
		}
	}
	c, what := classify(a)
	switch c {
	case always:
		return fmt.Sprintf("%s is %s: never reachable", shown, what)
	case loopback:
		if !p.AllowLoopback && !p.inAllowNets(a) {
			return fmt.Sprintf("%s is a loopback address: set outbound.allow-loopback, or list it in outbound.allow-nets, to allow it", shown)
		}
	case private:
		if !p.AllowPrivate && !p.inAllowNets(a) {
			return fmt.Sprintf("%s is a private address: set outbound.allow-private, or list its network in outbound.allow-nets, to allow it", shown)
		}
	}
	return ""
}

func (p *Policy) inAllowNets(a netip.Addr) bool {
	for _, n := range p.AllowNets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// matchPatterns applies Allow and Deny to u's text forms and to u with
// its host replaced by each of addrs.
func (p *Policy) matchPatterns(u *url.URL, addrs []netip.Addr) error {
	forms := variants(u, addrs)
	for _, pat := range p.Deny {
		for _, f := range forms {
			if globMatch(pat, f) {
				reason := fmt.Sprintf("matches the deny pattern %q (serve.url-deny)", pat)
				if f != forms[0] {
					reason = fmt.Sprintf("matches the deny pattern %q as %s (serve.url-deny)", pat, redactString(f))
				}
				return &DeniedError{URL: Redact(u), Reason: reason}
			}
		}
	}
	for _, pat := range p.Allow {
		for _, f := range forms {
			if globMatch(pat, f) {
				return nil
			}
		}
	}
	return &DeniedError{URL: Redact(u), Reason: "matches no allow pattern (serve.url-allow)"}
}

// variants lists the texts a pattern is matched against: u as given,
// then u with a lower-case scheme and host (an IP literal in its
// canonical form), then u with its host replaced by each address.
func variants(u *url.URL, addrs []netip.Addr) []string {
	forms := []string{u.String()}
	add := func(s string) {
		for _, f := range forms {
			if f == s {
				return
			}
		}
		forms = append(forms, s)
	}
	withHost := func(host string) string {
		c := *u
		c.Scheme = strings.ToLower(c.Scheme)
		c.Host = host
		if port := u.Port(); port != "" {
			c.Host = net.JoinHostPort(host, port)
		} else if strings.Contains(host, ":") {
			c.Host = "[" + host + "]"
		}
		return c.String()
	}
	host := hostName(u)
	if a, err := netip.ParseAddr(host); err == nil {
		host = canonical(a).String()
	}
	add(withHost(host))
	for _, a := range addrs {
		add(withHost(canonical(a).String()))
	}
	return forms
}

// hostName is u's host in lower case, without brackets or a trailing dot.
func hostName(u *url.URL) string {
	return strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
}

// portOf is u's port, or the scheme's default.
func portOf(u *url.URL) uint16 {
	if n, err := strconv.ParseUint(u.Port(), 10, 16); err == nil {
		return uint16(n)
	}
	if strings.EqualFold(u.Scheme, "https") {
		return 443
	}
	return 80
}

// globMatch matches s against a pattern where '*' stands for any text.
func globMatch(pattern, s string) bool {
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$"
	ok, _ := regexp.MatchString(re, s)
	return ok
}

// Redact returns u as it may be shown: without its password, with its
// query values replaced by xxxxx and without its fragment.
func Redact(u *url.URL) string {
	c := *u
	if c.RawQuery != "" {
		c.RawQuery = "xxxxx"
	}
	c.Fragment, c.RawFragment = "", ""
	return c.Redacted()
}

func redactString(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(URL)"
	}
	return Redact(u)
}

// SelfAddrs returns the addresses a listen address ("host:port") stands
// for: "localhost" is 127.0.0.1 and ::1, an empty host every address. A
// port of 0 or an unparsable address gives none.
func SelfAddrs(listen string) []netip.AddrPort {
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return nil
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil
	}
	p := uint16(port)
	switch strings.ToLower(host) {
	case "":
		return []netip.AddrPort{netip.AddrPortFrom(netip.IPv4Unspecified(), p)}
	case "localhost":
		return []netip.AddrPort{netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), p), netip.AddrPortFrom(netip.IPv6Loopback(), p)}
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return nil
	}
	return []netip.AddrPort{netip.AddrPortFrom(canonical(a), p)}
}
