package server

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"time"
)

// The operator console: one page (webui/index.html) and its script and
// style, embedded, with no third-party request and no build step. The
// page holds no data: the script reads everything through the API with
// the token the operator typed in (kept in sessionStorage), so the page
// and its assets are served without a token.
//
//go:embed webui
var webFiles embed.FS

var webUI, _ = fs.Sub(webFiles, "webui")

// consoleCSP allows the console's own script, style and API only.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// startTime stamps the embedded files (they change only with the binary).
var startTime = time.Now()

// page serves the console's page for / and every /ui/ path: the script
// routes by the path.
func (s *Server) page(w http.ResponseWriter, r *http.Request) error {
	return serveWebFile(w, r, "index.html")
}

// runPage is page for /ui/runs/{id} (kept for links to runs).
func (s *Server) runPage(w http.ResponseWriter, r *http.Request) error {
	return serveWebFile(w, r, "index.html")
}

func (s *Server) webAsset(w http.ResponseWriter, r *http.Request) error {
	return serveWebFile(w, r, path.Clean(r.PathValue("file")))
}

func serveWebFile(w http.ResponseWriter, r *http.Request, name string) error {
	data, err := fs.ReadFile(webUI, name)
	if err != nil {
		return errf(http.StatusNotFound, codeNotFound, "no such console file: %s", name)
	}
	h := w.Header()
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, startTime, bytes.NewReader(data))
	return nil
}

// consolePath reports whether a request is for the console's page or
// assets, which hold no data and are served without a token.
func consolePath(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return r.URL.Path == "/" || (len(r.URL.Path) > 4 && r.URL.Path[:4] == "/ui/")
}
