package addon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fetchCase is one Fetch call checked against the directory it returns.
type fetchCase struct {
	name string
	// source builds the source string; base is a scratch dir, srv the test
	// server's URL.
	source func(t *testing.T, base, srv string) string
	// lim, if set, gives the limits once source has run.
	lim func(base string) Limits
	// want lists the returned directory's tree (listTree lines);
	// wantSuffix is how the returned path must end.
	want       []string
	wantSuffix string
}

var helloTree = []string{
	"README.md -rw-r--r--",
	"docspell-addon.yml -rw-r--r--",
	"src drwxr-xr-x",
	"src/addon.sh -rwxr-xr-x",
}

func helloDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("testdata/sources/hello")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// zipServer serves the files under dir at /<name>, plus a few special
// paths.
func zipServer(t *testing.T, dir string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /zips/", http.StripPrefix("/zips/", http.FileServer(http.Dir(dir))))
	mux.HandleFunc("GET /chunked/big.zip", func(w http.ResponseWriter, r *http.Request) {
		// No Content-Length: the limit must be enforced while reading.
		for range 64 {
			w.Write(make([]byte, 1024))
			w.(http.Flusher).Flush()
		}
	})
	mux.Handle("GET /moved.zip", http.RedirectHandler("/zips/gone.zip", http.StatusFound))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestFetchGoodSources(t *testing.T) {
	tests := []fetchCase{
		{
			name: "a directory is returned as is, absolute and cleaned",
			source: func(t *testing.T, _, _ string) string {
				return "testdata/sources/./hello/"
			},
			want:       helloTree,
			wantSuffix: "/testdata/sources/hello",
		},
		{
			name: "a zip of the addon's files is unpacked",
			source: func(t *testing.T, base, _ string) string {
				return zipTree(t, filepath.Join(base, "flat.zip"), helloDir(t), "")
			},
			want:       helloTree,
			wantSuffix: "/files",
		},
		{
			name: "a zip nesting the files in two single directories is unwrapped twice",
			source: func(t *testing.T, base, _ string) string {
				return zipTree(t, filepath.Join(base, "nested.zip"), helloDir(t), "outer/hello-0.1/")
			},
			want:       helloTree,
			wantSuffix: "/files/outer/hello-0.1",
		},
		{
			name: "a zip holding only a descriptor file is left as it is",
			source: func(t *testing.T, base, _ string) string {
				return writeZip(t, filepath.Join(base, "only.zip"), zipItem{name: "docspell-addon.yml", body: "meta: {}\n"})
			},
			want:       []string{"docspell-addon.yml -rw-r--r--"},
			wantSuffix: "/files",
		},
		{
			name: "a single directory holding only an empty directory is unwrapped once",
			source: func(t *testing.T, base, _ string) string {
				return writeZip(t, filepath.Join(base, "empty.zip"), zipItem{name: "outer/empty/"})
			},
			want:       []string{"empty drwxr-xr-x"},
			wantSuffix: "/files/outer",
		},
		{
			name: "a single symlink to a directory is not unwrapped",
			source: func(t *testing.T, base, _ string) string {
				return writeZip(t, filepath.Join(base, "link.zip"), link("self", "."))
			},
			want:       []string{"self Lrwxrwxrwx -> ."},
			wantSuffix: "/files",
		},
		{
			name: "a zip behind an http URL is downloaded and unpacked",
			source: func(t *testing.T, base, srv string) string {
				zipTree(t, filepath.Join(base, "served", "hello.zip"), helloDir(t), "hello/")
				return srv + "/zips/hello.zip"
			},
			want:       helloTree,
			wantSuffix: "/files/hello",
		},
		{
			name: "a download exactly at the limit is accepted",
			source: func(t *testing.T, base, srv string) string {
				writeZip(t, filepath.Join(base, "served", "exact.zip"), zipItem{name: "a", body: "x"})
				return srv + "/zips/exact.zip"
			},
			lim: func(base string) Limits {
				fi, err := os.Stat(filepath.Join(base, "served", "exact.zip"))
				if err != nil {
					panic(err)
				}
				return Limits{MaxDownloadBytes: fi.Size()}
			},
			want:       []string{"a -rw-r--r--"},
			wantSuffix: "/files",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			srv := zipServer(t, filepath.Join(base, "served"))
			tmpRoot := filepath.Join(base, "tmp")
			if err := os.Mkdir(tmpRoot, 0o755); err != nil {
				t.Fatal(err)
			}
			source := tt.source(t, base, srv.URL)
			var lim Limits
			if tt.lim != nil {
				lim = tt.lim(base)
			}

			dir, cleanup, err := Fetch(context.Background(), source, tmpRoot, lim, loopbackPolicy())
			if err != nil {
				t.Fatalf("Fetch(%q): %v", source, err)
			}
			if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
				t.Errorf("Fetch returned %q, want an absolute clean path", dir)
			}
			if !strings.HasSuffix(dir, tt.wantSuffix) {
				t.Errorf("Fetch returned %q, want a path ending in %q", dir, tt.wantSuffix)
			}
			if got := listTree(t, dir); !slices.Equal(got, tt.want) {
				t.Errorf("fetched tree\n%q\nwant\n%q", got, tt.want)
			}
			if slices.Equal(tt.want, helloTree) {
				want, _ := ContentHash(helloDir(t))
				if got, err := ContentHash(dir); got != want {
					t.Errorf("ContentHash of the fetched addon = %s (%v), want %s as for the directory", got, err, want)
				}
			}

			cleanup()
			if got, _ := os.ReadDir(tmpRoot); len(got) != 0 {
				t.Errorf("tmpRoot holds %d entries after cleanup, want none", len(got))
			}
			if !strings.HasPrefix(dir, tmpRoot) {
				if _, err := os.Stat(dir); err != nil {
					t.Errorf("cleanup of a directory source touched it: %v", err)
				}
			}
		})
	}
}

func TestFetchRefusesBadSources(t *testing.T) {
	tests := []struct {
		name   string
		source func(t *testing.T, base, srv string) string
		lim    Limits
		// want are parts of the message; wantIs an error it must wrap.
		want   []string
		wantIs error
	}{
		{
			name: "a hostile zip is refused and named as the user gave it",
			source: func(t *testing.T, base, _ string) string {
				return writeZip(t, filepath.Join(base, "evil.zip"), zipItem{name: "ok", body: "x"}, zipItem{name: "../evil", body: "x"})
			},
			want: []string{"evil.zip: entry \"../evil\": path escapes the target directory"},
		},
		{
			name: "a zip bomb by bytes is refused",
			source: func(t *testing.T, base, _ string) string {
				return writeZip(t, filepath.Join(base, "bomb.zip"), zipItem{name: "zeros", body: string(make([]byte, 2<<20))})
			},
			lim:  Limits{MaxBytes: 1 << 20},
			want: []string{`entry "zeros": archive expands to more than the limit of 1048576 bytes`},
		},
		{
			name: "a missing path is refused",
			source: func(t *testing.T, base, _ string) string {
				return filepath.Join(base, "missing.zip")
			},
			want:   []string{"missing.zip: cannot be read"},
			wantIs: fs.ErrNotExist,
		},
		{
			name: "a file that is no zip is refused",
			source: func(t *testing.T, base, _ string) string {
				p := filepath.Join(base, "text.zip")
				os.WriteFile(p, []byte("not a zip"), 0o644)
				return p
			},
			want: []string{"text.zip: is not a readable zip archive"},
		},
		{
			name:   "an empty source is refused",
			source: func(*testing.T, string, string) string { return "" },
			want:   []string{"is empty"},
		},
		{
			name:   "an unsupported URL scheme is refused",
			source: func(*testing.T, string, string) string { return "ftp://example.invalid/a.zip" },
			want:   []string{`addon source ftp://example.invalid/a.zip: unsupported URL scheme "ftp"`},
		},
		{
			name:   "a URL answering 404 is refused with the URL and status",
			source: func(_ *testing.T, _, srv string) string { return srv + "/zips/missing.zip" },
			want:   []string{"addon source http://127.0.0.1:", "/zips/missing.zip: download failed: the server answered 404 Not Found"},
		},
		{
			name:   "a redirect to a missing zip names where it ended",
			source: func(_ *testing.T, _, srv string) string { return srv + "/moved.zip" },
			want:   []string{"/moved.zip: download failed: the server answered 404 Not Found at http://127.0.0.1:", "/zips/gone.zip"},
		},
		{
			name: "a download with a Content-Length over the limit is refused",
			source: func(t *testing.T, base, srv string) string {
				writeZip(t, filepath.Join(base, "served", "big.zip"), zipItem{name: "a", body: strings.Repeat("random-ish text ", 4096)})
				return srv + "/zips/big.zip"
			},
			lim:  Limits{MaxDownloadBytes: 100},
			want: []string{"/zips/big.zip: download is", "more than the limit of 100 bytes"},
		},
		{
			name:   "a chunked download over the limit is refused while reading",
			source: func(_ *testing.T, _, srv string) string { return srv + "/chunked/big.zip" },
			lim:    Limits{MaxDownloadBytes: 10000},
			want:   []string{"/chunked/big.zip: download is more than the limit of 10000 bytes"},
		},
		{
			name: "a downloaded hostile zip is refused and named by its URL",
			source: func(t *testing.T, base, srv string) string {
				writeZip(t, filepath.Join(base, "served", "evil.zip"), link("passwd", "/etc/passwd"))
				return srv + "/zips/evil.zip"
			},
			want: []string{"/zips/evil.zip: entry \"passwd\": symlink target \"/etc/passwd\" points outside"},
		},
		{
			name: "a password in the URL is not shown",
			source: func(_ *testing.T, _, srv string) string {
				return strings.Replace(srv, "http://", "http://user:hunter2@", 1) + "/zips/missing.zip"
			},
			want: []string{"http://user:xxxxx@"},
		},
		{
			name:   "a token in the URL's query is not shown",
			source: func(_ *testing.T, _, srv string) string { return srv + "/zips/missing.zip?token=hunter2" },
			want:   []string{"/zips/missing.zip?xxxxx: download failed"},
		},
		{
			name:   "a token in the URL's query is not shown when the server cannot be reached",
			source: func(_ *testing.T, _, _ string) string { return "http://127.0.0.1:1/a.zip?token=hunter2" },
			want:   []string{"http://127.0.0.1:1/a.zip?xxxxx: download failed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			srv := zipServer(t, filepath.Join(base, "served"))
			tmpRoot := filepath.Join(base, "tmp")
			if err := os.Mkdir(tmpRoot, 0o755); err != nil {
				t.Fatal(err)
			}
			source := tt.source(t, base, srv.URL)

			dir, cleanup, err := Fetch(context.Background(), source, tmpRoot, tt.lim, loopbackPolicy())

			if err == nil {
				cleanup()
				t.Fatalf("Fetch(%q) = %q, want an error", source, dir)
			}
			var se *SourceError
			if !errors.As(err, &se) {
				t.Errorf("Fetch returned %v (%T), want a *SourceError", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the URL's password", err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tt.wantIs)
			}
			if got, _ := os.ReadDir(tmpRoot); len(got) != 0 {
				t.Errorf("tmpRoot holds %d entries after a failed Fetch, want none", len(got))
			}
			assertNotExist(t, filepath.Join(base, "evil"))
		})
	}
}

func TestFetchStopsADownloadWhenCancelled(t *testing.T) {
	started := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		w.Write(make([]byte, 1000))
		w.(http.Flusher).Flush()
		close(started)
		<-r.Context().Done() // never finishes on its own
	}))
	t.Cleanup(srv.Close)
	tmpRoot := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()

	_, _, err := Fetch(ctx, srv.URL+"/slow.zip", tmpRoot, Limits{}, loopbackPolicy())

	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch returned %v, want context.Canceled", err)
	}
	if got, _ := os.ReadDir(tmpRoot); len(got) != 0 {
		t.Errorf("tmpRoot holds %d entries after a cancelled Fetch, want none", len(got))
	}
}

func ExampleSourceError() {
	err := &SourceError{Source: "x.zip", Entry: "../evil", Reason: "path escapes the target directory"}
	fmt.Println(err)
	// Output: addon source x.zip: entry "../evil": path escapes the target directory
}

func ExampleFetch() {
	ctx := context.Background()
	dir, cleanup, err := Fetch(ctx, "testdata/sources/hello", os.TempDir(), Limits{}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cleanup()
	sum, err := ContentHash(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("berth-addon/hello:0.1.0-%s\n", sum[:12])
	// Output: berth-addon/hello:0.1.0-880b1ee2b675
}
