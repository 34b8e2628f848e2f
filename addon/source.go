package addon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-dev/berth/outbound"
)

// Limits bounds what unpacking an archive may create. A zero (or negative)
// field means the default from DefaultLimits.
type Limits struct {
	// MaxEntries is the most entries (files, directories and symlinks) an
	// archive may hold. It is checked before anything is written.
	MaxEntries int
	// MaxBytes is the most uncompressed bytes all entries together may
	// expand to. It is counted while copying, not taken from the headers.
	MaxBytes int64
	// MaxDownloadBytes is the largest archive a URL source may deliver.
	MaxDownloadBytes int64
	// DownloadTimeout bounds a whole download, so that a server sending
	// a byte now and then cannot hold it for ever.
	DownloadTimeout time.Duration
}

const (
	defaultMaxEntries       = 10000
	defaultMaxBytes         = 512 << 20
	defaultMaxDownloadBytes = 256 << 20
	defaultDownloadTimeout  = 10 * time.Minute
)

// DefaultLimits returns the limits used for zero fields: 10000 entries,
// 512 MiB uncompressed, 256 MiB downloaded within 10 minutes.
func DefaultLimits() Limits {
	return Limits{MaxEntries: defaultMaxEntries, MaxBytes: defaultMaxBytes, MaxDownloadBytes: defaultMaxDownloadBytes, DownloadTimeout: defaultDownloadTimeout}
}

func (l Limits) orDefaults() Limits {
	d := DefaultLimits()
	if l.MaxEntries <= 0 {
		l.MaxEntries = d.MaxEntries
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxDownloadBytes <= 0 {
		l.MaxDownloadBytes = d.MaxDownloadBytes
	}
	if l.DownloadTimeout <= 0 {
		l.DownloadTimeout = d.DownloadTimeout
	}
	return l
}

// SourceError reports why a source could not be used. Source is what the
// user gave (a URL with its password and query removed), Entry the archive entry at
// fault if any, Reason a sentence for the user and Err the underlying
// error if any.
type SourceError struct {
	Source, Entry, Reason string
	Err                   error
}

func (e *SourceError) Error() string {
	var b strings.Builder
	b.WriteString("addon source ")
	b.WriteString(e.Source)
	if e.Entry != "" {
		fmt.Fprintf(&b, ": entry %q", e.Entry)
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *SourceError) Unwrap() error { return e.Err }

// Fetch materialises source (a directory path, a path to a .zip, or an
// http(s):// URL of a zip) and returns the directory holding the addon's
// files.
//
// A directory source is returned as is (absolute and cleaned) and nothing
// is copied; cleanup is then a no-op. Zips and URLs are unpacked with Unzip
// into a new directory under tmpRoot (os.TempDir() when empty), a single
// top-level non-empty directory is unwrapped repeatedly, and cleanup removes
// everything Fetch created. On error nothing is left behind in tmpRoot.
// ctx cancels downloads and extraction.
//
// A URL, and every redirect it leads to, is fetched under pol
// (outbound.Default() when nil): a refusal wraps outbound.ErrDenied.
func Fetch(ctx context.Context, source, tmpRoot string, lim Limits, pol *outbound.Policy) (dir string, cleanup func(), err error) {
	lim = lim.orDefaults()
	if source == "" {
		return "", nil, &SourceError{Source: `""`, Reason: "is empty: give a directory, a .zip file or an http(s):// URL of a zip"}
	}
	if u, ok := sourceURL(source); ok {
		if u.Scheme != "http" && u.Scheme != "https" {
			return "", nil, &SourceError{Source: redactURL(u), Reason: fmt.Sprintf("unsupported URL scheme %q: only http and https are fetched", u.Scheme)}
		}
		return fetchArchive(ctx, redactURL(u), tmpRoot, lim, "", u, pol)
	}

	abs, err := filepath.Abs(source)
	if err != nil {
		return "", nil, &SourceError{Source: source, Reason: "cannot resolve the path", Err: err}
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", nil, &SourceError{Source: source, Reason: "cannot be read", Err: err}
	}
	switch {
	case fi.IsDir():
		return abs, func() {}, nil
	case fi.Mode().IsRegular():
		return fetchArchive(ctx, source, tmpRoot, lim, abs, nil, nil)
	default:
		return "", nil, &SourceError{Source: source, Reason: "is neither a directory nor a zip file"}
	}
}

// DisplaySource returns source as it may be shown in errors and logs: a
// URL loses its password and its query (tokens often travel there).
func DisplaySource(source string) string {
	if u, ok := sourceURL(source); ok {
		return redactURL(u)
	}
	return source
}

// redactURL is u without its password, query values and fragment.
func redactURL(u *url.URL) string { return outbound.Redact(u) }

// sourceURL reports whether source is meant as a URL (it has a scheme
// followed by "://"), so a typo'd scheme is reported rather than looked up
// as a file.
func sourceURL(source string) (*url.URL, bool) {
	scheme, _, ok := strings.Cut(source, "://")
	if !ok || scheme == "" || strings.ContainsAny(scheme, `/\.`) {
		return nil, false
	}
	u, err := url.Parse(source)
	if err != nil {
		return nil, false
	}
	u.Scheme = strings.ToLower(u.Scheme)
	return u, true
}

// fetchArchive makes the work directory under tmpRoot, downloads u into it
// (a local zip is read in place instead), unpacks the archive and unwraps
// single top-level directories. display names the source in errors.
func fetchArchive(ctx context.Context, display, tmpRoot string, lim Limits, localZip string, u *url.URL, pol *outbound.Policy) (string, func(), error) {
	work, err := os.MkdirTemp(tmpRoot, "berth-addon-")
	if err != nil {
		return "", nil, fmt.Errorf("making a directory for addon source %s: %w", display, err)
	}
	cleanup := func() { _ = os.RemoveAll(work) }
	fail := func(err error) (string, func(), error) {
		cleanup()
		if se, ok := errors.AsType[*SourceError](err); ok {
			se.Source = display
		}
		return "", nil, err
	}

	archive := localZip
	if archive == "" {
		archive = filepath.Join(work, "archive.zip")
		if err := download(ctx, u, archive, lim, pol); err != nil {
			return fail(err)
		}
	}
	files := filepath.Join(work, "files")
	if err := os.Mkdir(files, 0o755); err != nil {
		return fail(err)
	}
	if err := Unzip(ctx, archive, files, lim); err != nil {
		return fail(err)
	}
	if localZip == "" {
		// The download is no longer needed; free the space now.
		if err := os.Remove(archive); err != nil {
			return fail(err)
		}
	}
	dir, err := unwrapSingleDir(files)
	if err != nil {
		return fail(err)
	}
	return dir, cleanup, nil
}

// unwrapSingleDir descends into dir while it holds exactly one entry and
// that entry is a non-empty directory (not a symlink to one). Zips are often
// made by compressing the folder itself, and sometimes twice.
func unwrapSingleDir(dir string) (string, error) {
	for {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return "", err
		}
		if len(ents) != 1 || !ents[0].IsDir() {
			return dir, nil
		}
		sub := filepath.Join(dir, ents[0].Name())
		subEnts, err := os.ReadDir(sub)
		if err != nil {
			return "", err
		}
		if len(subEnts) == 0 {
			return dir, nil
		}
		dir = sub
	}
}

// download GETs u into file under pol, refusing non-2xx answers, bodies
// larger than lim.MaxDownloadBytes and downloads that take longer than
// lim.DownloadTimeout.
func download(ctx context.Context, u *url.URL, file string, lim Limits, pol *outbound.Policy) error {
	display := redactURL(u)
	if pol == nil {
		pol = outbound.Default()
	}
	max := lim.MaxDownloadBytes
	ctx, cancel := context.WithTimeoutCause(ctx, lim.DownloadTimeout, errDownloadTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return &SourceError{Source: display, Reason: "is not a valid URL", Err: err}
	}
	req.Header.Set("User-Agent", "berth")
	resp, err := pol.Do(req)
	if err != nil {
		return downloadError(ctx, display, lim, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		reason := "download failed: the server answered " + resp.Status
		if final := redactURL(resp.Request.URL); final != display {
			reason += " at " + final // after redirects
		}
		return &SourceError{Source: display, Reason: reason}
	}
	if resp.ContentLength > max {
		return &SourceError{Source: display, Reason: fmt.Sprintf("download is %d bytes, more than the limit of %d bytes", resp.ContentLength, max)}
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("saving download of %s: %w", display, err)
	}
	// Read one byte more than allowed to tell "exactly max" from "too large".
	n, err := io.Copy(f, io.LimitReader(resp.Body, max+1))
	if cerr := f.Close(); err == nil && cerr != nil {
		return fmt.Errorf("saving download of %s: %w", display, cerr)
	}
	switch {
	case err != nil:
		return downloadError(ctx, display, lim, err)
	case n > max:
		return &SourceError{Source: display, Reason: fmt.Sprintf("download is more than the limit of %d bytes", max)}
	}
	return nil
}

// errDownloadTimeout is the cause of a download's context that ran out
// of time.
var errDownloadTimeout = errors.New("download timeout")

// downloadError says why a download failed: refused by the policy,
// cancelled, out of time or else.
func downloadError(ctx context.Context, display string, lim Limits, err error) error {
	switch {
	case errors.Is(err, outbound.ErrDenied):
		de, _ := errors.AsType[*outbound.DeniedError](err)
		return &SourceError{Source: display, Reason: "refused by the outbound policy: " + de.Reason, Err: outbound.ErrDenied}
	case context.Cause(ctx) == errDownloadTimeout:
		return &SourceError{Source: display, Reason: fmt.Sprintf("download took longer than %v (outbound.download-timeout)", lim.DownloadTimeout), Err: context.DeadlineExceeded}
	case ctx.Err() != nil:
		return &SourceError{Source: display, Reason: "download cancelled", Err: ctx.Err()}
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		ue.URL = display // http's own errors show the query
	}
	return &SourceError{Source: display, Reason: "download failed", Err: err}
}
