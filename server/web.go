package server

import (
	"encoding/json"
	"html/template"
	"net/http"

	"github.com/berth-dev/berth/store"
)

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>berth</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}
table{border-collapse:collapse;width:100%;margin-bottom:2em}
th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #ddd;vertical-align:top}
.succeeded{color:#060}.failed{color:#a00}.cancelled{color:#666}.running{color:#04a}.queued{color:#a60}
pre{background:#f6f6f6;padding:1em;overflow:auto}
</style></head><body>
{{if .Run}}
<p><a href="/">← berth</a></p>
<h1>Run {{.Run.ID}}</h1>
<p>State: <b class="{{.Run.State}}">{{.Run.State}}</b> · attempts {{.Run.Attempts}}/{{.Run.MaxAttempts}} · trigger {{.Run.Trigger}} · node {{.Run.Node}}</p>
{{if .Run.Error}}<p>Error: {{.Run.Error}}</p>{{end}}
<h2>Addons</h2><ul>{{range .Run.Addons}}<li>{{.Name}} <code>{{.Args}}</code></li>{{end}}</ul>
{{if .Run.OutputSize}}<h2>Output</h2><p><a href="/v1/runs/{{.Run.ID}}/output">output.json</a> ({{.Run.OutputSize}} bytes)</p>{{end}}
{{if .Run.OutputFiles}}<h2>Output files</h2><ul>{{range .Run.OutputFiles}}<li><a href="/v1/runs/{{$.Run.ID}}/files/{{.}}">{{.}}</a></li>{{end}}</ul>{{end}}
<h2>Logs</h2>{{if .Run.Logs}}<pre>{{range .Run.Logs.Lines}}{{.}}
{{end}}</pre>{{else}}<p>none</p>{{end}}
<h2>Result</h2><pre>{{.ResultJSON}}</pre>
{{else}}
<h1>berth</h1>
<p>Node {{.Node}} · <a href="/openapi.json">API</a> · <a href="/metrics">metrics</a></p>
<h2>Addons</h2>
<table><tr><th>id</th><th>name</th><th>version</th><th>triggers</th><th>runners</th><th>pure</th></tr>
{{range .Addons}}<tr><td>{{.ID}}</td><td>{{.Name}}</td><td>{{.Version}}</td><td>{{range .Triggers}}{{.}} {{end}}</td><td>{{range .Usable}}{{.}} {{end}}</td><td>{{.Pure}}</td></tr>
{{else}}<tr><td colspan="6">none installed</td></tr>{{end}}</table>
<h2>Run configurations</h2>
<table><tr><th>id</th><th>name</th><th>enabled</th><th>triggers</th><th>schedule</th><th>addons</th></tr>
{{range .Configs}}<tr><td>{{.ID}}</td><td>{{.Name}}</td><td>{{.Enabled}}</td><td>{{range .Trigger}}{{.}} {{end}}</td><td>{{.Schedule}}</td><td>{{range .Addons}}{{.AddonID}} {{end}}</td></tr>
{{else}}<tr><td colspan="6">none</td></tr>{{end}}</table>
<h2>Latest runs</h2>
<table><tr><th>id</th><th>state</th><th>trigger</th><th>addons</th><th>attempts</th><th>created</th><th>error</th></tr>
{{range .Runs}}<tr><td><a href="/ui/runs/{{.ID}}">{{.ID}}</a></td><td class="{{.State}}">{{.State}}</td><td>{{.Trigger}}</td><td>{{range .Addons}}{{.Name}} {{end}}</td><td>{{.Attempts}}</td><td>{{.CreatedAt.Format "2006-01-02 15:04:05"}}</td><td>{{.Error}}</td></tr>
{{else}}<tr><td colspan="7">none yet</td></tr>{{end}}</table>
{{end}}
</body></html>
`))

// page renders the overview: addons, run configurations, latest runs.
func (s *Server) page(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	as, err := s.st.ListAddons(ctx, nil)
	if err != nil {
		return err
	}
	rcs, err := s.st.ListRunConfigs(ctx, nil, "")
	if err != nil {
		return err
	}
	runs, err := s.st.ListRuns(ctx, nil, store.RunFilter{Limit: 50})
	if err != nil {
		return err
	}
	data := struct {
		Node    string
		Addons  []addonView
		Configs []runConfig
		Runs    []runView
		Run     *runView
	}{Node: s.nodeID}
	for _, a := range as {
		data.Addons = append(data.Addons, viewAddon(a))
	}
	for _, rc := range rcs {
		if c, err := decodeConfig(rc); err == nil {
			data.Configs = append(data.Configs, c)
		}
	}
	for _, run := range runs {
		data.Runs = append(data.Runs, s.viewRun(run, false))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	return pageTmpl.Execute(w, data)
}

// runPage renders one run with its logs.
func (s *Server) runPage(w http.ResponseWriter, r *http.Request) error {
	run, err := s.st.GetRun(r.Context(), nil, r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := s.viewRunWithLogs(r.Context(), run)
	if err != nil {
		return err
	}
	res, _ := json.MarshalIndent(v.Result, "", "  ")
	data := struct {
		Run        *runView
		ResultJSON string
	}{&v, string(res)}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	return pageTmpl.Execute(w, data)
}
