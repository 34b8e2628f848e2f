// Package settings holds the daemon's settings (the `serve:` section of
// berth.yaml) with their defaults. It imports nothing of berth's so that
// package config can embed it.
package settings

import (
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Serve configures `berth serve`. Every key has a flag of the same name.
type Serve struct {
	// Listen is the address of the HTTP API.
	Listen string `yaml:"listen"`
	// DatabaseURL is empty for SQLite in the data dir, postgres://… for
	// PostgreSQL (several nodes), or sqlite:PATH.
	DatabaseURL string `yaml:"database-url"`
	// TokenFile holds API tokens, one a line ('#' starts a comment).
	TokenFile string `yaml:"token-file"`
	// Tokens are API tokens given inline (BERTH_SERVE_TOKENS, comma-separated).
	Tokens []string `yaml:"tokens"`
	// Concurrency is the most runs one node executes at once.
	Concurrency int `yaml:"concurrency"`
	// Retries is how often a failed pure run is tried again.
	Retries int `yaml:"retries"`
	// RetryBackoff is the first retry's delay; each next one doubles.
	RetryBackoff Duration `yaml:"retry-backoff"`
	// AllowImpure permits installing impure addons.
	AllowImpure bool `yaml:"allow-impure"`
	// URLAllow and URLDeny are patterns ('*' matches anything) that an
	// addon URL or webhook must match (one of URLAllow, none of URLDeny);
	// package outbound applies them.
	URLAllow []string `yaml:"url-allow"`
	URLDeny  []string `yaml:"url-deny"`
	// AllowPath permits installing from a directory on the server.
	AllowPath bool `yaml:"allow-path"`
	// MaxBody bounds a request body (JSON or upload).
	MaxBody ByteSize `yaml:"max-body"`
	// ShutdownGrace is how long running jobs may finish after a stop
	// signal before they are cancelled.
	ShutdownGrace Duration `yaml:"shutdown-grace"`
	// NodeTimeout is how long a node may miss heartbeats before its
	// running jobs are handed to another node.
	NodeTimeout Duration `yaml:"node-timeout"`
	// PollInterval is how often an idle node looks for new jobs.
	PollInterval Duration `yaml:"poll-interval"`
	// LogLines caps the log lines kept per run.
	LogLines int `yaml:"log-lines"`
	// Retention is how long a finished run's record and output files are
	// kept after it ended; 0 keeps them forever.
	Retention Duration `yaml:"retention"`
	// IdempotencyWindow is how long POST /v1/events remembers an
	// Idempotency-Key: a resend with the key within it returns the runs
	// the first request queued.
	IdempotencyWindow Duration `yaml:"idempotency-window"`
	// RequestTimeout bounds reading a request (headers and body) and
	// writing its answer, on every endpoint but the transfers.
	RequestTimeout Duration `yaml:"request-timeout"`
	// TransferTimeout replaces RequestTimeout on the transfers: uploads
	// (an addon zip, an event's files), installing or updating an addon
	// (which fetches it) and downloading a run's output file.
	TransferTimeout Duration `yaml:"transfer-timeout"`
	// IdleTimeout closes a keep-alive connection that sends no request
	// for this long.
	IdleTimeout Duration `yaml:"idle-timeout"`
	// MaxConnections bounds the HTTP connections open at once; a
	// connection over it waits to be accepted until another closes.
	MaxConnections int `yaml:"max-connections"`
	// BlobMaxSize bounds one blob in the shared database: an addon's
	// package (its files as one archive) or one output file of a run.
	BlobMaxSize ByteSize `yaml:"blob-max-size"`
	// BlobCacheSize bounds this node's local cache of blobs
	// (data-dir/blob-cache); entries in use are kept over it.
	BlobCacheSize ByteSize `yaml:"blob-cache-size"`
	// BlobGrace is how long a blob that nothing references is kept
	// after it was stored or last referenced.
	BlobGrace Duration `yaml:"blob-grace"`
}

// MinRetention is the shortest retention other than 0 (forever).
const MinRetention = time.Minute

// DefaultListen is the API's default address.
const DefaultListen = "127.0.0.1:8470"

// Default returns the defaults of every key.
func Default() Serve {
	return Serve{
		Listen:        DefaultListen,
		Concurrency:   runtime.NumCPU(),
		Retries:       2,
		RetryBackoff:  Duration(10 * time.Second),
		AllowImpure:   true,
		URLAllow:      []string{"*"},
		AllowPath:     true,
		MaxBody:       64 << 20,
		ShutdownGrace: Duration(30 * time.Second),
		NodeTimeout:   Duration(15 * time.Second),
		PollInterval:  Duration(20 * time.Millisecond),
		LogLines:      1000,

		IdempotencyWindow: Duration(24 * time.Hour),

		RequestTimeout:  Duration(time.Minute),
		TransferTimeout: Duration(15 * time.Minute),
		IdleTimeout:     Duration(time.Minute),
		MaxConnections:  512,

		BlobMaxSize:   1 << 30,
		BlobCacheSize: 4 << 30,
		BlobGrace:     Duration(time.Hour),
	}
}

// Validate checks the values.
func (s Serve) Validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("serve.%s: %s", key, fmt.Sprintf(format, args...))
	}
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		return bad("listen", "%q is not host:port: %v", s.Listen, err)
	}
	if s.Concurrency < 1 {
		return bad("concurrency", "must be at least 1")
	}
	if s.Retries < 0 {
		return bad("retries", "must not be negative")
	}
	if s.MaxBody <= 0 {
		return bad("max-body", "must be positive")
	}
	if s.NodeTimeout <= 0 || s.PollInterval <= 0 || s.RetryBackoff <= 0 {
		return bad("node-timeout, poll-interval, retry-backoff", "must be positive")
	}
	if s.Retention < 0 || (s.Retention > 0 && s.Retention.Std() < MinRetention) {
		return bad("retention", "%v: want 0 (keep finished runs forever) or at least %v, so that a host polling a run sees it final before it is removed", s.Retention.Std(), MinRetention)
	}
	if s.IdempotencyWindow < Duration(time.Minute) {
		return bad("idempotency-window", "%v: want at least 1m (a host's resend after a lost answer must find its key)", s.IdempotencyWindow.Std())
	}
	if s.LogLines < 1 {
		return bad("log-lines", "must be at least 1")
	}
	if s.RequestTimeout <= 0 || s.TransferTimeout <= 0 || s.IdleTimeout <= 0 {
		return bad("request-timeout, transfer-timeout, idle-timeout", "must be positive (a connection without them is held for ever)")
	}
	if s.MaxConnections < 1 {
		return bad("max-connections", "must be at least 1")
	}
	if s.BlobMaxSize <= 0 || s.BlobCacheSize < 0 {
		return bad("blob-max-size, blob-cache-size", "must be positive (blob-cache-size 0: no bound)")
	}
	if s.BlobGrace.Std() < time.Second {
		return bad("blob-grace", "%v: want at least 1s, so that a blob being stored is not removed before the record that names it is written", s.BlobGrace.Std())
	}
	return nil
}

// Loopback reports whether the listen address only accepts local
// connections (the only case where running without tokens is allowed).
func (s Serve) Loopback() bool {
	host, _, err := net.SplitHostPort(s.Listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Duration is a time.Duration written as "90s" or "15m".
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like 30s or 5m", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String implements pflag.Value.
func (d Duration) String() string { return time.Duration(d).String() }

// Set implements pflag.Value.
func (d *Duration) Set(s string) error { return d.UnmarshalText([]byte(s)) }

// Type implements pflag.Value.
func (d *Duration) Type() string { return "duration" }

// ByteSize is a size written as 1048576, "512KiB", "64MiB" or "1GiB".
type ByteSize int64

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a size like 1048576, 512KiB or 64MiB", text)
	}
	*b = ByteSize(n * mult)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(strconv.FormatInt(int64(b), 10)), nil }

// String implements pflag.Value.
func (b ByteSize) String() string { return strconv.FormatInt(int64(b), 10) }

// Set implements pflag.Value.
func (b *ByteSize) Set(s string) error { return b.UnmarshalText([]byte(s)) }

// Type implements pflag.Value.
func (b *ByteSize) Type() string { return "size" }
