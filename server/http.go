package server

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/buildinfo"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/berth-dev/berth/server/settings"
	"github.com/berth-dev/berth/store"
)

// apiError is the body of every error response: a stable code for
// programs and a message for people.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// Error codes; docs/api.md lists them.
const (
	codeBadRequest      = "bad_request"
	codeInvalidJSON     = "invalid_json"
	codeInvalid         = "validation_failed"
	codeNotFound        = "not_found"
	codeConflict        = "conflict"
	codeUnauthorized    = "unauthorized"
	codeForbidden       = "forbidden"
	codeTooLarge        = "body_too_large"
	codeMediaType       = "unsupported_media_type"
	codeMethod          = "method_not_allowed"
	codeInternal        = "internal"
	codeAddonInvalid    = "addon_invalid"
	codeNoRunner        = "no_usable_runner"
	codeAddonInUse      = "addon_in_use"
	codeUnavailable     = "unavailable"
	errorBodyMaxMessage = 2000
)

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// fail writes err as a JSON error; errors that are not *apiError are
// classified (not found, conflict, too large) or reported as internal.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &mbe):
		ae = errf(http.StatusRequestEntityTooLarge, codeTooLarge, "the request body is larger than max-body (%d bytes)", mbe.Limit)
	case errors.Is(err, store.ErrNotFound):
		ae = errf(http.StatusNotFound, codeNotFound, "%s", err.Error())
	case errors.Is(err, store.ErrConflict):
		ae = errf(http.StatusConflict, codeConflict, "%s", err.Error())
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = errf(http.StatusInternalServerError, codeInternal, "%s", err.Error())
	}
	if len(ae.Message) > errorBodyMaxMessage {
		ae.Message = ae.Message[:errorBodyMaxMessage] + "…"
	}
	writeJSON(w, ae.Status, map[string]*apiError{"error": ae})
}

// decodeJSON reads a JSON body (at most max-body bytes) into v,
// refusing unknown fields and trailing data.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		if mt != "application/json" {
			return errf(http.StatusUnsupportedMediaType, codeMediaType, "send application/json (got %q)", mt)
		}
	}
	return decodeJSONFrom(http.MaxBytesReader(w, r.Body, int64(s.set.MaxBody)), v)
}

func decodeJSONFrom(rd io.Reader, v any) error {
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return errf(http.StatusBadRequest, codeInvalidJSON, "the request body is empty: send a JSON object")
		}
		return errf(http.StatusBadRequest, codeInvalidJSON, "the request body is not valid JSON for this endpoint: %v", err)
	}
	if dec.More() {
		return errf(http.StatusBadRequest, codeInvalidJSON, "the request body holds more than one JSON value")
	}
	return nil
}

// Handler returns the HTTP API with authentication.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			// No record has an id that is not one (PostgreSQL would
			// answer a NUL byte or invalid UTF-8 with an error).
			if id := r.PathValue("id"); id != "" && !validID(id) {
				s.fail(w, r, errf(http.StatusNotFound, codeNotFound, "no record has the id %q", id))
				return
			}
			if err := h(w, r); err != nil {
				s.fail(w, r, err)
			}
		})
	}
	handle("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", s.metrics.handler())
	mux.HandleFunc("GET /openapi.json", serveOpenAPI)
	handle("GET /{$}", s.page)
	handle("GET /ui/runs/{id}", s.runPage)
	handle("GET /ui/{path...}", s.page)
	handle("GET /ui/assets/{file}", s.webAsset)

	handle("GET /v1/addons", s.listAddons)
	handle("POST /v1/addons", s.transfer(s.installAddon))
	handle("GET /v1/addons/{id}", s.getAddon)
	handle("PUT /v1/addons/{id}", s.transfer(s.updateAddon))
	handle("DELETE /v1/addons/{id}", s.deleteAddon)

	handle("GET /v1/run-configs", s.listConfigs)
	handle("POST /v1/run-configs", s.createConfig)
	handle("GET /v1/run-configs/{id}", s.getConfig)
	handle("PUT /v1/run-configs/{id}", s.updateConfig)
	handle("DELETE /v1/run-configs/{id}", s.deleteConfig)
	handle("POST /v1/run-configs/{id}/enable", s.setConfigEnabled(true))
	handle("POST /v1/run-configs/{id}/disable", s.setConfigEnabled(false))
	handle("GET /v1/schedule", s.schedulePreview)

	handle("GET /v1/runs", s.listRuns)
	handle("POST /v1/runs", s.createRun)
	handle("GET /v1/runs/{id}", s.getRun)
	handle("POST /v1/runs/{id}/cancel", s.cancelRun)
	handle("DELETE /v1/runs/{id}", s.cancelRun)
	handle("POST /v1/runs/{id}/rerun", s.rerunRun)
	handle("GET /v1/runs/{id}/logs", s.runLogs)
	handle("GET /v1/runs/{id}/output", s.transfer(s.runOutput))
	handle("GET /v1/runs/{id}/files/{path...}", s.transfer(s.runFile))

	handle("POST /v1/events", s.transfer(s.sendEvent))

	handle("GET /v1/services", s.listServices)
	handle("GET /v1/services/{project}", s.getServices)
	handle("PUT /v1/services/{project}", s.putServices)
	handle("DELETE /v1/services/{project}", s.deleteServices)
	handle("POST /v1/services/{project}/restart", s.restartService)
	handle("GET /v1/services/{project}/logs", s.serviceLogs)

	return s.browserGuard(s.authenticate(s.jsonNotFound(mux)))
}

// browserGuard refuses what a web page could make a browser send: a
// state-changing cross-origin request (CSRF: a form or fetch to the API
// needs no preflight when it is multipart or has no content type, and a
// browser adds the cached basic-auth password of the web page), and,
// without tokens, a request naming a host other than a loopback one (DNS
// rebinding: a page whose name resolves to 127.0.0.1 is same-origin).
func (s *Server) browserGuard(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, errf(http.StatusForbidden, codeForbidden, "cross-origin %s refused: call the API from a program, not from a web page of another site", r.Method))
	}))
	guarded := cop.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.tokens) == 0 && !loopbackHost(r.Host) {
			s.fail(w, r, errf(http.StatusForbidden, codeForbidden, "without API tokens only requests to a loopback host (localhost, 127.0.0.1, [::1]) are served"))
			return
		}
		guarded.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names this machine's
// loopback interface.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// jsonNotFound turns the mux's plain-text 404 and 405 into JSON errors.
func (s *Server) jsonNotFound(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{header: http.Header{}}
		mux.ServeHTTP(rec, r)
		if rec.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", rec.header.Get("Allow"))
			s.fail(w, r, errf(http.StatusMethodNotAllowed, codeMethod, "%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, rec.header.Get("Allow")))
			return
		}
		s.fail(w, r, errf(http.StatusNotFound, codeNotFound, "no such endpoint: %s %s (see /openapi.json)", r.Method, r.URL.Path))
	})
}

type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(code int)        { s.status = code }

// authenticate checks the bearer token (or a basic auth password) on
// everything but /healthz and the console's page and assets, which hold
// no data (the console's script sends the token). Without tokens
// (allowed on loopback only) every request passes.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.tokens) == 0 || r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		given := ""
		if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") {
			given = strings.TrimSpace(strings.TrimPrefix(auth, "Bearer "))
		} else if _, pw, ok := r.BasicAuth(); ok {
			given = pw
		}
		if given == "" && consolePath(r) {
			// The console's page asks for the token itself.
			next.ServeHTTP(w, r)
			return
		}
		if given == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="berth"`)
			s.fail(w, r, errf(http.StatusUnauthorized, codeUnauthorized, "send an API token: Authorization: Bearer <token>"))
			return
		}
		if !s.validToken(given) {
			s.fail(w, r, errf(http.StatusUnauthorized, codeUnauthorized, "the API token is not valid"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) validToken(given string) bool {
	ok := 0
	for _, t := range s.tokens {
		ok |= subtle.ConstantTimeCompare([]byte(t), []byte(given))
	}
	return ok == 1
}

// loadTokens reads the token file and the inline tokens. Tokens are never
// logged; an error names the file and line only.
func loadTokens(set settings.Serve) ([]string, error) {
	var out []string
	for i, t := range set.Tokens {
		if t = strings.TrimSpace(t); t != "" {
			if len(t) < 16 {
				return nil, fmt.Errorf("serve.tokens[%d]: a token must be at least 16 characters", i)
			}
			out = append(out, t)
		}
	}
	if set.TokenFile == "" {
		return out, nil
	}
	tokens, err := settings.ReadTokenFile(set.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("serve.token-file: %w", err)
	}
	out = append(out, tokens...)
	return out, nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.st.CountByState(r.Context(), nil); err != nil {
		return errf(http.StatusServiceUnavailable, codeUnavailable, "database: %v", err)
	}
	bi := buildinfo.Get()
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "node": s.nodeID, "database": string(s.db.Dialect),
		"version": bi.Version, "commit": bi.Commit})
	return nil
}
