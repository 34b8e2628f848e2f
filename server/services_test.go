package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/config"
	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/engine/enginetest"
	"github.com/berth-dev/berth/server"
	"github.com/berth-dev/berth/service"
	"github.com/berth-dev/berth/service/spec"
)

// svcLoop runs until SIGTERM and says so in its log.
const svcLoop = `["sh", "-c", "trap 'exit 0' TERM; echo started $0; while true; do sleep 0.1; done", "%s"]`

type projectV struct {
	Project  string           `json:"project"`
	File     string           `json:"file"`
	Source   string           `json:"source"`
	StateDir string           `json:"stateDir"`
	State    string           `json:"state"`
	Error    string           `json:"error"`
	HeldBy   int              `json:"heldBy"`
	Services []service.Status `json:"services"`
}

// svcEnv is what the services tests share: docker, the busybox image, a
// unique prefix for container and project names (both are global to
// the engine and the state directories) and a root for state dirs.
type svcEnv struct {
	t         *testing.T
	eng       *engine.Client
	img, p    string
	dir       string
	stateRoot string
}

func newSvcEnv(t *testing.T) *svcEnv {
	eng := enginetest.RequireDocker(t)
	e := &svcEnv{t: t, eng: eng, img: enginetest.BusyboxImage(t, eng),
		p: fmt.Sprintf("sv%d%03d", os.Getpid()%100000, time.Now().UnixNano()%1000), dir: t.TempDir(), stateRoot: t.TempDir()}
	return e
}

// file writes a services file for docker; body's {{P}} is the prefix,
// {{IMG}} the image, {{LOOP name}} a container command running until
// stopped.
func (e *svcEnv) file(name, body string) (path, text string) {
	e.t.Helper()
	text = strings.NewReplacer("{{P}}", e.p, "{{IMG}}", e.img).Replace(body)
	for strings.Contains(text, "{{LOOP ") {
		i := strings.Index(text, "{{LOOP ")
		j := strings.Index(text[i:], "}}") + i
		text = text[:i] + fmt.Sprintf(svcLoop, text[i+7:j]) + text[j+2:]
	}
	path = filepath.Join(e.dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return path, text
}

// cleanup removes every container of the projects at the end.
func (e *svcEnv) cleanup(projects ...string) {
	e.t.Cleanup(func() {
		ctx := context.Background()
		for _, p := range projects {
			names, _ := e.eng.ListContainers(ctx, service.LabelProject+"="+p)
			for _, n := range names {
				e.eng.RemoveContainer(ctx, n, true)
			}
		}
	})
}

func (e *svcEnv) options(o *server.Options) {
	o.ServicesStateDir = func(p string) string { return filepath.Join(e.stateRoot, p) }
	o.ServicesEngine = func(backend string) *engine.Client {
		if backend == "docker" {
			return e.eng
		}
		// An engine that is not installed: its projects fail.
		return engine.New("/nonexistent/berth-test-" + backend)
	}
}

// waitRunning polls GET /v1/services/{project} until every named
// service is running.
func waitRunning(t *testing.T, n *node, project string, names ...string) projectV {
	t.Helper()
	var p projectV
	eventually(t, project+": "+strings.Join(names, ", ")+" running", func() error {
		if code := n.call("GET", "/v1/services/"+project, nil, &p); code != 200 {
			return fmt.Errorf("GET = %d", code)
		}
		for _, name := range names {
			found := false
			for _, st := range p.Services {
				if st.Name == name {
					found = true
					if st.State != service.Running {
						return fmt.Errorf("%s is %s (%s %s); project %s %s", name, st.State, st.Reason, st.LastError, p.State, p.Error)
					}
				}
			}
			if !found {
				return fmt.Errorf("%s not among %+v (project %s %s)", name, p.Services, p.State, p.Error)
			}
		}
		return nil
	})
	return p
}

// started is a container's id and start time: equal ones mean it was
// not restarted.
func (e *svcEnv) started(name string) string {
	e.t.Helper()
	info, err := e.eng.InspectContainer(context.Background(), name)
	if err != nil {
		e.t.Fatalf("inspect %s: %v", name, err)
	}
	if !info.Running {
		e.t.Fatalf("%s is not running", name)
	}
	return info.ID + " " + info.StartedAt.String()
}

func getText(t *testing.T, n *node, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", n.URL+path, nil)
	if n.Token != "" {
		req.Header.Set("Authorization", "Bearer "+n.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestTheDaemonSupervisesServicesFiles: a file of berth.yaml and one
// handed over with PUT are supervised; bad ones fail alone; the API
// shows states and logs, the metrics the series; a daemon restart
// adopts every container without restarting it; a second PUT recreates
// only what changed; DELETE stops and removes.
func TestTheDaemonSupervisesServicesFiles(t *testing.T) {
	e := newSvcEnv(t)
	cfgP, apiP := e.p+"-cfg", e.p+"-api"
	e.cleanup(cfgP, apiP)
	web := e.p + "-web"
	cfgFile, _ := e.file("web.yaml", `
backend: docker
containers:
  {{P}}-web: {image: {{IMG}}, cmd: {{LOOP web}}, stopTimeout: 2s, healthcheck: {test: ["CMD", "true"], interval: 1s}}
`)
	podmanFile, _ := e.file("other.yaml", "backend: podman\ncontainers:\n  {{P}}-pod: {image: {{IMG}}}\n")
	missing := filepath.Join(e.dir, "missing.yaml")
	conf := func(c *config.Config) {
		c.Services = []config.ServicesFile{
			{File: cfgFile, Project: cfgP},
			{File: missing, Project: e.p + "-missing"},
			{File: podmanFile, Project: e.p + "-noengine"},
		}
	}
	dataDir := t.TempDir()
	n := startNode(t, nodeOpts{dataDir: dataDir, config: conf, options: e.options})

	t.Run("a file of berth.yaml runs; one missing and one without its engine fail alone", func(t *testing.T) {
		p := waitRunning(t, n, cfgP, web)
		if p.Source != "config" || p.State != "running" || p.File != cfgFile || p.StateDir != filepath.Join(e.stateRoot, cfgP) {
			t.Errorf("project = %+v", p)
		}
		var list struct{ Projects []projectV }
		n.mustCall(200, "GET", "/v1/services", nil, &list)
		states := map[string]projectV{}
		for _, p := range list.Projects {
			states[p.Project] = p
		}
		if m := states[e.p+"-missing"]; m.State != "failed" || !strings.Contains(m.Error, "missing.yaml") {
			t.Errorf("the missing file's project = %+v", m)
		}
		eventually(t, "the project without an engine failed", func() error {
			var p projectV
			n.call("GET", "/v1/services/"+e.p+"-noengine", nil, &p)
			if p.State != "failed" || !strings.Contains(p.Error, "berth-test-podman") {
				return fmt.Errorf("%+v", p)
			}
			return nil
		})
	})

	apiFile, apiText := e.file("api.yaml", `
backend: docker
containers:
  {{P}}-a: {image: {{IMG}}, cmd: {{LOOP a}}, stopTimeout: 2s}
  {{P}}-b: {image: {{IMG}}, cmd: {{LOOP b}}, stopTimeout: 2s, dependsOn: ["{{P}}-a"]}
`)
	a, b := e.p+"-a", e.p+"-b"
	t.Run("a file handed over with PUT is kept and runs", func(t *testing.T) {
		var p projectV
		n.mustCall(201, "PUT", "/v1/services/"+apiP, map[string]any{"file": apiFile, "spec": apiText}, &p)
		if p.State != "running" || p.Source != "api" || p.File != apiFile {
			t.Errorf("PUT answered %+v", p)
		}
		waitRunning(t, n, apiP, a, b)
		for _, f := range []string{"services.yaml", "meta.json"} {
			fi, err := os.Stat(filepath.Join(dataDir, "services", apiP, f))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v, mode %v; want it kept with mode 0600", f, err, fi)
			}
		}
	})

	t.Run("a bad file is refused naming the field, and nothing is kept", func(t *testing.T) {
		bad := strings.Replace(apiText, `dependsOn: ["`+a+`"]`, `dependsOn: ["`+e.p+`-nope"]`, 1)
		var ae apiErr
		if code := n.call("PUT", "/v1/services/"+e.p+"-bad", map[string]any{"file": apiFile, "spec": bad}, &ae); code != 400 || ae.Error.Code != "validation_failed" ||
			!strings.Contains(ae.Error.Message, "api.yaml") || !strings.Contains(ae.Error.Message, "containers."+b+".dependsOn") {
			t.Errorf("PUT of a bad file = %d %+v", code, ae)
		}
		if _, err := os.Stat(filepath.Join(dataDir, "services", e.p+"-bad")); !os.IsNotExist(err) {
			t.Errorf("something was kept of the bad file: %v", err)
		}
		if code := n.call("PUT", "/v1/services/"+e.p+"-rel", map[string]any{"file": "api.yaml", "spec": apiText}, &ae); code != 400 || !strings.Contains(ae.Error.Message, "file:") {
			t.Errorf("PUT with a relative file = %d %+v", code, ae)
		}
		if code := n.call("PUT", "/v1/services/"+cfgP, map[string]any{"file": apiFile, "spec": apiText}, &ae); code != 409 || !strings.Contains(ae.Error.Message, "berth.yaml") {
			t.Errorf("PUT of a project of berth.yaml = %d %+v", code, ae)
		}
		if code := n.call("GET", "/v1/services/nope-"+e.p, nil, &ae); code != 404 {
			t.Errorf("GET of an unknown project = %d", code)
		}
	})

	t.Run("logs and metrics", func(t *testing.T) {
		eventually(t, "web's log", func() error {
			code, body := getText(t, n, "/v1/services/"+cfgP+"/logs?name="+web)
			if code != 200 || !strings.Contains(body, "started web") {
				return fmt.Errorf("%d %q", code, body)
			}
			return nil
		})
		eventually(t, "the merged log", func() error {
			code, body := getText(t, n, "/v1/services/"+apiP+"/logs?tail=50")
			if code != 200 || !strings.Contains(body, a+" | started a") || !strings.Contains(body, b+" | started b") {
				return fmt.Errorf("%d %q", code, body)
			}
			return nil
		})
		eventually(t, "web healthy", func() error {
			var p projectV
			n.call("GET", "/v1/services/"+cfgP, nil, &p)
			if len(p.Services) != 1 || p.Services[0].Health != "healthy" {
				return fmt.Errorf("%+v", p.Services)
			}
			return nil
		})
		_, metrics := getText(t, n, "/metrics")
		for _, want := range []string{
			fmt.Sprintf(`berth_service_state{project=%q,service=%q,state="running"} 1`, cfgP, web),
			fmt.Sprintf(`berth_service_state{project=%q,service=%q,state="failed"} 0`, cfgP, web),
			fmt.Sprintf(`berth_service_restarts_total{project=%q,service=%q} 0`, apiP, a),
			fmt.Sprintf(`berth_service_healthy{project=%q,service=%q} 1`, cfgP, web),
			fmt.Sprintf(`berth_services_project_state{project=%q,state="failed"} 1`, e.p+"-missing"),
			fmt.Sprintf(`berth_services_project_state{project=%q,state="running"} 1`, apiP),
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})

	before := map[string]string{web: e.started(web), a: e.started(a), b: e.started(b)}
	// The daemon restart is not a subtest: the new node lives on.
	{
		// systemd's KillMode=control-group: every process of the unit
		// gets SIGTERM with the daemon, the engine CLIs too.
		for _, c := range []string{web, a, b} {
			pids := cliPids("--sig-proxy=false", "--name="+c)
			if len(pids) == 0 {
				t.Errorf("no engine command follows %s", c)
			}
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGTERM)
			}
		}
		n.stop()
		for name, was := range before {
			if got := e.started(name); got != was {
				t.Errorf("%s changed when the daemon stopped: %s, was %s", name, got, was)
			}
		}
		n = startNode(t, nodeOpts{dataDir: dataDir, config: conf, options: e.options})
		waitRunning(t, n, cfgP, web)
		p := waitRunning(t, n, apiP, a, b)
		if p.Source != "api" {
			t.Errorf("the handed-over project came back as %+v", p)
		}
		for name, was := range before {
			if got := e.started(name); got != was {
				t.Errorf("after a daemon restart, %s was restarted: %s, was %s", name, got, was)
			}
		}
	}

	t.Run("a second PUT recreates what changed and adopts the rest", func(t *testing.T) {
		changed := strings.Replace(apiText, fmt.Sprintf(svcLoop, "b"), fmt.Sprintf(svcLoop, "b2"), 1)
		var p projectV
		n.mustCall(200, "PUT", "/v1/services/"+apiP, map[string]any{"file": apiFile, "spec": changed}, &p)
		eventually(t, "b recreated", func() error {
			info, err := e.eng.InspectContainer(context.Background(), b)
			if err != nil || !info.Running || info.ID+" "+info.StartedAt.String() == before[b] {
				return fmt.Errorf("b: %+v %v", info, err)
			}
			return nil
		})
		waitRunning(t, n, apiP, a, b)
		if got := e.started(a); got != before[a] {
			t.Errorf("a, unchanged, was restarted: %s, was %s", got, before[a])
		}
	})

	t.Run("DELETE stops and removes the containers and forgets the file", func(t *testing.T) {
		var res struct {
			State            string
			Services         []service.Status
			Stopped, Removed []string
			Forgotten        bool
			Note             string
		}
		n.mustCall(200, "DELETE", "/v1/services/"+apiP, nil, &res)
		if len(res.Stopped) != 2 || !res.Forgotten || res.State != "stopped" || len(res.Services) != 2 {
			t.Errorf("DELETE answered %+v", res)
		}
		if left, _ := e.eng.ListContainers(context.Background(), service.LabelProject+"="+apiP); len(left) != 0 {
			t.Errorf("containers left: %v", left)
		}
		if _, err := os.Stat(filepath.Join(dataDir, "services", apiP, "meta.json")); !os.IsNotExist(err) {
			t.Errorf("the file is still kept: %v", err)
		}
		var ae apiErr
		if code := n.call("GET", "/v1/services/"+apiP, nil, &ae); code != 404 {
			t.Errorf("GET after DELETE = %d", code)
		}
		n.mustCall(200, "DELETE", "/v1/services/"+cfgP, nil, &res)
		if res.Forgotten || !strings.Contains(res.Note, "until the daemon restarts") {
			t.Errorf("DELETE of a berth.yaml project answered %+v", res)
		}
		var p projectV
		n.mustCall(200, "GET", "/v1/services/"+cfgP, nil, &p)
		if p.State != "stopped" {
			t.Errorf("after DELETE the berth.yaml project is %+v", p)
		}
		if left, _ := e.eng.ListContainers(context.Background(), service.LabelProject+"="+cfgP); len(left) != 0 {
			t.Errorf("containers left: %v", left)
		}
	})
}

// TestAProjectAForegroundSupervisorHoldsIsLeftToIt: the daemon does not
// fight `berth services up` for a project: it reports it held (with the
// pid), refuses a PUT for it, and takes it up once the other is gone.
func TestAProjectAForegroundSupervisorHoldsIsLeftToIt(t *testing.T) {
	e := newSvcEnv(t)
	proj := e.p + "-held"
	e.cleanup(proj)
	file, text := e.file("held.yaml", `
backend: docker
containers:
  {{P}}-h: {image: {{IMG}}, cmd: {{LOOP h}}, stopTimeout: 2s}
`)
	sf, err := spec.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(e.stateRoot, proj)
	sup, err := service.New(service.Config{Spec: sf, Engine: e.eng, StateDir: stateDir, Project: proj, NoJournald: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	var once sync.Once
	stopForeground := func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(time.Minute):
				t.Error("the foreground supervisor did not stop")
			}
		})
	}
	t.Cleanup(stopForeground)
	eventually(t, "the foreground supervisor holds the state directory", func() error {
		if !service.Locked(stateDir) {
			return fmt.Errorf("not locked yet")
		}
		return nil
	})

	n := startNode(t, nodeOpts{options: e.options, config: func(c *config.Config) {
		c.Services = []config.ServicesFile{{File: file, Project: proj}}
	}})
	var p projectV
	n.mustCall(200, "GET", "/v1/services/"+proj, nil, &p)
	if p.State != "held" || p.HeldBy != os.Getpid() || !strings.Contains(p.Error, fmt.Sprintf("held by another supervisor (pid %d)", os.Getpid())) {
		t.Errorf("project = %+v, want held by pid %d", p, os.Getpid())
	}
	var ae apiErr
	other := e.p + "-held2"
	n2 := startNode(t, nodeOpts{options: func(o *server.Options) {
		e.options(o)
		o.ServicesStateDir = func(string) string { return stateDir } // every project here shares the held directory
	}})
	if code := n2.call("PUT", "/v1/services/"+other, map[string]any{"file": file, "spec": text}, &ae); code != 409 || !strings.Contains(ae.Error.Message, "held by another supervisor") {
		t.Errorf("PUT of a held project = %d %+v", code, ae)
	}
	if code := n.call("DELETE", "/v1/services/"+proj, nil, &ae); code != 409 {
		t.Errorf("DELETE of a held project = %d %+v", code, ae)
	}

	stopForeground()
	waitRunning(t, n, proj, e.p+"-h")
}

// cliPids are the pids of processes whose argv holds every one of words
// (read from /proc): the engine commands following containers.
func cliPids(words ...string) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, d := range dirs {
		raw, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		found := 0
		for _, w := range words {
			for _, a := range args {
				if a == w {
					found++
					break
				}
			}
		}
		if found == len(words) {
			pid, _ := strconv.Atoi(filepath.Base(d))
			out = append(out, pid)
		}
	}
	return out
}

// TestTheDaemonAdoptsPodmanContainersAfterItsRestart is the restart of
// TestTheDaemonSupervisesServicesFiles with podman, whose CLI exits on
// the SIGTERM systemd sends it (the daemon follows the container again).
func TestTheDaemonAdoptsPodmanContainersAfterItsRestart(t *testing.T) {
	pod := enginetest.RequirePodman(t)
	e := &svcEnv{t: t, eng: pod, img: enginetest.BusyboxImage(t, pod),
		p: fmt.Sprintf("pv%d%03d", os.Getpid()%100000, time.Now().UnixNano()%1000), dir: t.TempDir(), stateRoot: t.TempDir()}
	proj := e.p + "-pod"
	e.cleanup(proj)
	file, _ := e.file("pod.yaml", `
backend: podman
containers:
  {{P}}-p: {image: {{IMG}}, cmd: {{LOOP p}}, stopTimeout: 2s}
`)
	opts := func(o *server.Options) {
		o.ServicesStateDir = func(p string) string { return filepath.Join(e.stateRoot, p) }
		o.ServicesEngine = func(string) *engine.Client { return pod }
	}
	conf := func(c *config.Config) { c.Services = []config.ServicesFile{{File: file, Project: proj}} }
	dataDir := t.TempDir()
	n := startNode(t, nodeOpts{dataDir: dataDir, config: conf, options: opts})
	name := e.p + "-p"
	waitRunning(t, n, proj, name)
	before := e.started(name)
	pids := cliPids("--sig-proxy=false", "--name="+name)
	if len(pids) == 0 {
		t.Errorf("no engine command follows %s", name)
	}
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	n.stop()
	if got := e.started(name); got != before {
		t.Fatalf("%s changed when the daemon stopped: %s, was %s", name, got, before)
	}
	n = startNode(t, nodeOpts{dataDir: dataDir, config: conf, options: opts})
	waitRunning(t, n, proj, name)
	if got := e.started(name); got != before {
		t.Errorf("%s was restarted: %s, was %s", name, got, before)
	}
	var res struct{ Stopped []string }
	n.mustCall(200, "DELETE", "/v1/services/"+proj, nil, &res)
	if left, _ := pod.ListContainers(context.Background(), service.LabelProject+"="+proj); len(left) != 0 || len(res.Stopped) != 1 {
		t.Errorf("after DELETE: left %v, stopped %v", left, res.Stopped)
	}
}
