package server

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/berth-dev/berth/internal/buildinfo"
)

//go:embed openapi.json
var openAPI []byte

var (
	openAPIOnce      sync.Once
	openAPIVersioned []byte
)

// versionedOpenAPI is the embedded document with info.version set to this
// build's version, so a client can tell which berth it talks to.
func versionedOpenAPI() []byte {
	openAPIOnce.Do(func() {
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(openAPI, &doc); err != nil {
			openAPIVersioned = openAPI
			return
		}
		var info map[string]any
		if err := json.Unmarshal(doc["info"], &info); err != nil || info == nil {
			openAPIVersioned = openAPI
			return
		}
		info["version"] = buildinfo.Get().Version
		raw, _ := json.Marshal(info)
		doc["info"] = raw
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", " ")
		if err := enc.Encode(doc); err != nil {
			openAPIVersioned = openAPI
			return
		}
		openAPIVersioned = buf.Bytes()
	})
	return openAPIVersioned
}

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(versionedOpenAPI())
}
