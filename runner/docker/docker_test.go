package docker_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/engine/enginetest"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/runner/docker"
	"github.com/berth-dev/berth/runner/runnertest"
)

// engines are the engines every integration test runs on.
var engines = []struct {
	name    string
	require func(testing.TB) *engine.Client
}{
	{"docker", enginetest.RequireDocker},
	{"podman", enginetest.RequirePodman},
}

// env is one engine's test fixture.
type env struct {
	name string
	c    *engine.Client
}

func (e env) runner(t *testing.T, edit func(*docker.Config)) *docker.Runner {
	t.Helper()
	cfg := docker.DefaultConfig()
	cfg.Binary = e.c.Binary
	cfg.GlobalArgs = e.c.GlobalArgs
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return docker.New(cfg, docker.WithEngine(e.c))
}

func (e env) executor(t *testing.T, r runner.Runner) *executor.Executor {
	return &executor.Executor{
		Runners:    map[string]runner.Runner{r.Name(): r},
		Preference: []string{r.Name()},
		WorkRoot:   t.TempDir(),
		CacheRoot:  t.TempDir(),
		Timeout:    time.Minute,
		KillGrace:  500 * time.Millisecond,
		PathEnv:    []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"},
	}
}

// run runs one addon through the executor and asserts that no container
// of the run is left.
func (e env) run(t *testing.T, ex *executor.Executor, req executor.Request) *executor.Result {
	t.Helper()
	res, err := ex.Run(context.Background(), req)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	e.assertNoContainers(t, res.RunID)
	return res
}

func (e env) assertNoContainers(t testing.TB, runID string) {
	t.Helper()
	left, err := e.c.ListContainers(context.Background(), docker.LabelRun+"="+runID)
	if err != nil {
		t.Fatalf("listing containers: %v", err)
	}
	if len(left) > 0 {
		t.Errorf("containers of run %s left behind: %v", runID, left)
	}
}

// removeImage removes ref when the test ends.
func (e env) removeImage(t testing.TB, ref string) {
	t.Cleanup(func() {
		_, _ = e.c.Run(context.Background(), []string{"rmi", "-f", ref}, engine.RunOpts{})
	})
}

// dockerfileAddon writes an addon whose image runs script with /bin/sh
// and returns it loaded. descriptor is the YAML without a runner section.
// The built image is removed when the test ends.
func (e env) dockerfileAddon(t testing.TB, descriptor, script string, extra map[string]string) *addon.Addon {
	t.Helper()
	files := map[string]string{
		"docspell-addon.yaml": descriptor + "runner:\n  docker:\n    enable: true\n",
		"Dockerfile":          "FROM " + enginetest.BusyboxRef + "\nCOPY run.sh /addon/run.sh\nENTRYPOINT [\"/bin/sh\", \"/addon/run.sh\"]\n",
		"run.sh":              script,
	}
	for k, v := range extra {
		files[k] = v
	}
	a := writeAddon(t, files)
	hash, err := addon.ContentHash(a.Dir)
	if err != nil {
		t.Fatal(err)
	}
	e.removeImage(t, docker.ImageTag(a.Meta.Name, a.Meta.Version, hash))
	return a
}

func writeAddon(t testing.TB, files map[string]string) *addon.Addon {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, err := addon.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func pure(name string) string {
	return "meta:\n  name: " + name + "\n  version: \"1.0\"\n"
}

func impure(name string) string {
	return pure(name) + "options:\n  networking: true\n  collectOutput: true\n"
}

// nonce makes an addon's content, hence its image tag, unique.
func nonce() string { return strconv.FormatInt(time.Now().UnixNano(), 36) }

// TestContractSuite runs the contract every runner must pass. The suite
// sets environment variables, so it cannot run in parallel.
func TestContractSuite(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			c := eng.require(t)
			enginetest.BusyboxImage(t, c)
			e := env{name: eng.name, c: c}
			runnertest.Run(t, runnertest.Harness{
				Runner: e.runner(t, nil),
				Package: func(t *testing.T, descriptor, script string) *addon.Addon {
					return e.dockerfileAddon(t, descriptor, script, nil)
				},
				Isolated: true,
				AfterRun: func(t *testing.T, res *executor.Result) { e.assertNoContainers(t, res.RunID) },
				Timeout:  3 * time.Second,
			})
		})
	}
}

func TestDockerRunnerOnRealEngines(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			t.Parallel()
			c := eng.require(t)
			enginetest.BusyboxImage(t, c)
			e := env{name: eng.name, c: c}

			t.Run("an image-only addon from a zip holding just the descriptor runs its image", e.testImageOnlyZip)
			t.Run("a missing image without a registry is an error naming the image", e.testMissingImage)
			t.Run("a Dockerfile addon is built once and then served from the cache", e.testBuildCache)
			t.Run("a failing build fails the run with its last output lines", e.testFailingBuild)
			t.Run("a pure addon cannot reach the host network and an impure one can", e.testNetwork)
			t.Run("a timeout kills and removes the container", e.testTimeout)
			t.Run("a cancel kills and removes the container", e.testCancel)
			t.Run("output files are owned by the configured user", e.testOwnership)
			t.Run("operator variables reach the addon verbatim", e.testOperatorEnv)
			t.Run("the container is hardened", e.testHardening)
			t.Run("a run over the memory limit is reported out of memory", e.testOOM)
			t.Run("doctor proves the daemon sees the working dir and prints the fix when not", e.testDoctor)
			t.Run("a container that cannot start is an execution failure, not an exit code", e.testCannotStart)
			t.Run("the bundled example examples/docker-hello runs", e.testExample)
			t.Run("leftovers of a dead berth are removed, running containers are not", e.testLeftovers)
		})
	}
}

const echoScript = `echo "hello from $(cat /image-name 2>/dev/null || echo image)" >&2
echo '{"commands":[{"command":"item-update","itemId":"item1","actions":[{"action":"add-tags","tags":["from-image"]}]}]}'
`

func (e env) testImageOnlyZip(t *testing.T) {
	ctx := context.Background()
	ref := "berth-test/image-only:" + nonce()
	// Make the image the descriptor names: no registry, so build it.
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "run.sh"), []byte(echoScript), 0o644)
	os.WriteFile(filepath.Join(src, "Dockerfile"), []byte("FROM "+enginetest.BusyboxRef+"\nCOPY run.sh /run.sh\nENTRYPOINT [\"/bin/sh\", \"/run.sh\"]\n"), 0o644)
	if _, err := e.c.Run(ctx, []string{"build", "-t", ref, src}, engine.RunOpts{}); err != nil {
		t.Fatal(err)
	}
	e.removeImage(t, ref)

	zipPath := filepath.Join(t.TempDir(), "image-only.zip")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("docspell-addon.yaml")
	fmt.Fprintf(w, "meta:\n  name: image-only\n  version: \"0.1\"\nrunner:\n  docker:\n    image: %s\n", ref)
	zw.Close()
	os.WriteFile(zipPath, buf.Bytes(), 0o644)

	dir, cleanup, err := addon.Fetch(ctx, zipPath, t.TempDir(), addon.DefaultLimits(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	a, err := addon.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Runners(); len(got) != 1 || got[0] != addon.RunnerDocker {
		t.Fatalf("runners = %v, want [docker]", got)
	}
	r := e.runner(t, func(c *docker.Config) { c.Pull = docker.PullNever })
	res := e.run(t, e.executor(t, r), executor.Request{Steps: []executor.Step{{Addon: a}}})
	if res.Kind != executor.Success {
		t.Fatalf("result %s: %s %q", res.Kind, res.Error, res.StderrTail)
	}
	out, _ := json.Marshal(res.Output)
	if !strings.Contains(string(out), "from-image") {
		t.Errorf("output = %s, want the image's output", out)
	}
	if !res.Addons[0].Cached {
		t.Error("a present image was not reported cached")
	}
}

func (e env) testMissingImage(t *testing.T) {
	for _, c := range []struct {
		pull docker.PullPolicy
		ref  string
	}{
		{docker.PullNever, "berth-test/absent:never"},
		// A registry on a closed port: pulling fails fast and for sure.
		{docker.PullMissing, "localhost:1/berth-test/absent:1"},
	} {
		t.Run("pull "+string(c.pull), func(t *testing.T) {
			a := writeAddon(t, map[string]string{"docspell-addon.yaml": pure("absent") + "runner:\n  docker:\n    image: " + c.ref + "\n"})
			r := e.runner(t, func(cfg *docker.Config) { cfg.Pull = c.pull })
			_, err := r.Prepare(context.Background(), a)
			var ie *docker.ImageError
			if !errors.As(err, &ie) {
				t.Fatalf("Prepare err = %v, want *ImageError", err)
			}
			if !strings.Contains(err.Error(), c.ref) || !strings.Contains(err.Error(), "docker load") {
				t.Errorf("error does not name the image and the fix: %v", err)
			}
		})
	}
}

func (e env) testBuildCache(t *testing.T) {
	ctx := context.Background()
	a := e.dockerfileAddon(t, pure("cached"), `echo '{}'`, map[string]string{"nonce": nonce()})
	r := e.runner(t, nil)

	var first, second bytes.Buffer
	p1, err := r.Build(ctx, a, &first)
	if err != nil {
		t.Fatal(err)
	}
	if p1.Cached || !strings.Contains(first.String(), "building "+p1.Image) {
		t.Fatalf("first build: cached=%v, progress %q; want a build", p1.Cached, first.String())
	}
	if !strings.HasPrefix(p1.Image, "berth-addon/cached:1.0-") {
		t.Errorf("image tag = %q", p1.Image)
	}
	id1, labels := imageInfo(t, e.c, p1.Image)
	hash, _ := addon.ContentHash(a.Dir)
	if labels[docker.LabelHash] != hash || labels[docker.LabelAddon] != "cached" {
		t.Errorf("image labels = %v", labels)
	}

	p2, err := r.Build(ctx, a, &second)
	if err != nil {
		t.Fatal(err)
	}
	if !p2.Cached || p2.Image != p1.Image || strings.Contains(second.String(), "building") {
		t.Errorf("second build: cached=%v image=%s progress %q; want no build", p2.Cached, p2.Image, second.String())
	}
	if id2, _ := imageInfo(t, e.c, p1.Image); id2 != id1 {
		t.Errorf("the image was rebuilt: %s, then %s", id1, id2)
	}
	// A fresh runner (a restarted berth) finds the tag in the engine.
	var third bytes.Buffer
	if p, err := e.runner(t, nil).Build(ctx, a, &third); err != nil || !p.Cached || !strings.Contains(third.String(), "built already") {
		t.Errorf("a new runner: cached=%v err=%v progress %q; want the existing image", p.Cached, err, third.String())
	}
	if id3, _ := imageInfo(t, e.c, p1.Image); id3 != id1 {
		t.Errorf("the image was rebuilt by a new runner: %s, then %s", id1, id3)
	}

	// Through the executor, the run says it started from the cache.
	res := e.run(t, e.executor(t, r), executor.Request{Steps: []executor.Step{{Addon: a}}})
	if res.Kind != executor.Success || !res.Addons[0].Cached {
		t.Errorf("run: %s cached=%v %s", res.Kind, res.Addons[0].Cached, res.Error)
	}

	// Changing a file changes the tag: the old image is not reused.
	os.WriteFile(filepath.Join(a.Dir, "nonce"), []byte(nonce()), 0o644)
	hash2, _ := addon.ContentHash(a.Dir)
	e.removeImage(t, docker.ImageTag("cached", "1.0", hash2))
	p3, err := r.Prepare(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if p3.Cached || p3.Image == p1.Image {
		t.Errorf("changed addon: cached=%v image=%s; want a new build", p3.Cached, p3.Image)
	}
}

func imageInfo(t *testing.T, c *engine.Client, ref string) (string, map[string]string) {
	t.Helper()
	out, err := c.Run(context.Background(), []string{"image", "inspect", "--format", "{{.Id}} {{json .Config.Labels}}", ref}, engine.RunOpts{})
	if err != nil {
		t.Fatal(err)
	}
	id, js, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	var labels map[string]string
	if err := json.Unmarshal([]byte(js), &labels); err != nil {
		t.Fatalf("labels %q: %v", js, err)
	}
	return id, labels
}

func (e env) testFailingBuild(t *testing.T) {
	mark := "the-build-step-" + nonce()
	a := e.dockerfileAddon(t, pure("broken"), `echo '{}'`, map[string]string{
		"Dockerfile": "FROM " + enginetest.BusyboxRef + "\nRUN echo the-last-words-of-the-build " + mark + " && exit 7\n",
	})
	r := e.runner(t, nil)
	_, err := r.Prepare(context.Background(), a)
	var be *runner.BuildError
	if !errors.As(err, &be) {
		t.Fatalf("Prepare err = %v, want *runner.BuildError", err)
	}
	if !strings.Contains(strings.Join(be.Tail, "\n"), "the-last-words-of-the-build") {
		t.Errorf("build tail = %q, want the build's output", be.Tail)
	}
	res := e.run(t, e.executor(t, r), executor.Request{Steps: []executor.Step{{Addon: a}}})
	if res.Kind != executor.ExecutionFailed || !strings.Contains(res.Error, "the-last-words-of-the-build") {
		t.Errorf("run: %s %q, want execution-failed with the build output", res.Kind, res.Error)
	}
	// The failed step's container must not stay behind (docker's legacy
	// builder keeps it unless told --force-rm).
	out, err := e.c.Run(context.Background(), []string{"ps", "-a", "--no-trunc", "--format", "{{.Names}} {{.Command}}"}, engine.RunOpts{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, mark) {
			t.Errorf("a container of the failed build was left behind: %s", l)
		}
	}
}

func (e env) testNetwork(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, "pong")
	}))
	defer srv.Close()
	// busybox nc, not wget: the static busybox's wget crashes in NSS.
	host, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	script := fmt.Sprintf(`printf 'GET /ping HTTP/1.0\r\n\r\n' | nc -w 3 %s %s > "$OUTPUT_DIR/got" 2>"$OUTPUT_DIR/err"
if grep -q pong "$OUTPUT_DIR/got"; then echo reached; else echo unreachable; fi > "$OUTPUT_DIR/net"
echo '{}'
`, host, port)
	r := e.runner(t, nil)
	for _, c := range []struct {
		name, descriptor, want string
		isolated               bool
	}{
		{"netpure", pure("netpure"), "unreachable", true},
		{"netimpure", impure("netimpure"), "reached", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := hits.Load()
			a := e.dockerfileAddon(t, c.descriptor, script, nil)
			outDir := filepath.Join(t.TempDir(), "out")
			res := e.run(t, e.executor(t, r), executor.Request{Steps: []executor.Step{{Addon: a}}, OutputDir: outDir})
			if res.Kind != executor.Success {
				t.Fatalf("result %s: %s %q", res.Kind, res.Error, res.StderrTail)
			}
			got, _ := os.ReadFile(filepath.Join(outDir, "net"))
			if strings.TrimSpace(string(got)) != c.want {
				errOut, _ := os.ReadFile(filepath.Join(outDir, "err"))
				t.Errorf("the addon says %q (%s), want %q", got, errOut, c.want)
			}
			if reached := hits.Load() > before; reached != (c.want == "reached") {
				t.Errorf("server reached = %v, want %v", reached, c.want == "reached")
			}
			if res.Isolated != c.isolated {
				t.Errorf("isolated = %v, want %v", res.Isolated, c.isolated)
			}
		})
	}
}

func (e env) testTimeout(t *testing.T) {
	token := strconv.Itoa(800000 + int(time.Now().UnixNano()%99999))
	a := e.dockerfileAddon(t, pure("slow"), "trap '' TERM\nsleep "+token+" &\nsleep "+token+"\n", nil)
	r := e.runner(t, nil)
	ex := e.executor(t, r)
	ex.Timeout = 2 * time.Second
	res := e.run(t, ex, executor.Request{Steps: []executor.Step{{Addon: a}}})
	if res.Kind != executor.ExecutionFailed || !strings.Contains(res.Error, "timed out") {
		t.Errorf("result %s (%s), want execution-failed after a timeout", res.Kind, res.Error)
	}
	if left := runnertest.ProcessesWithArg(token); len(left) > 0 {
		t.Errorf("container processes survived the timeout: %v", left)
	}
}

func (e env) testCancel(t *testing.T) {
	a := e.dockerfileAddon(t, pure("cancelled"), "sleep 600\n", nil)
	r := e.runner(t, nil)
	p, err := r.Prepare(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	runID := "cancel-" + nonce()
	inv := e.invocation(t, a, runID)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(ctx, p, inv)
		done <- err
	}()
	// Cancel once the container exists.
	for i := 0; ; i++ {
		names, _ := e.c.ListContainers(context.Background(), docker.LabelRun+"="+runID)
		if len(names) > 0 {
			if !strings.HasPrefix(names[0], "berth-cancelled-1.0-") {
				t.Errorf("container name = %q, want berth-<name>-<version>-<random>", names[0])
			}
			break
		}
		if i > 300 {
			t.Fatal("the container never appeared")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run err = %v, want context.Canceled", err)
	}
	e.assertNoContainers(t, runID)
}

func (e env) testOwnership(t *testing.T) {
	for _, c := range []struct {
		user     string
		uid, gid int
	}{
		{docker.UserBerth, os.Getuid(), os.Getgid()},
		{"1234:1234", 1234, 1234},
	} {
		t.Run("user "+strconv.Quote(c.user), func(t *testing.T) {
			a := e.dockerfileAddon(t, pure("owner"), `id -u > "$OUTPUT_DIR/uid"; echo x > "$CACHE_DIR/cached"; echo '{}'`, nil)
			r := e.runner(t, func(cfg *docker.Config) { cfg.User = c.user })
			// Straight through the runner: the executor copies kept output
			// files, which would hide who wrote them.
			inv := e.invocation(t, a, "owner-"+nonce())
			exit, err := e.prepareAndRun(t, r, inv)
			if err != nil || exit.Code != 0 {
				t.Fatalf("run: exit %d, %v %q", exit.Code, err, exit.StderrTail)
			}
			for _, f := range []string{filepath.Join(inv.OutputDir, "uid"), filepath.Join(inv.CacheDir, "cached")} {
				fi, err := os.Stat(f)
				if err != nil {
					t.Fatal(err)
				}
				st := fi.Sys().(*syscall.Stat_t)
				if int(st.Uid) != c.uid || int(st.Gid) != c.gid {
					t.Errorf("%s owned by %d:%d, want %d:%d", filepath.Base(f), st.Uid, st.Gid, c.uid, c.gid)
				}
			}
		})
	}
}

// invocation lays out a run's directories as the executor does.
func (e env) invocation(t testing.TB, a *addon.Addon, runID string) runner.Invocation {
	t.Helper()
	root := t.TempDir()
	inv := runner.Invocation{
		RunID: runID, Addon: a,
		WorkDir:   filepath.Join(root, "work"),
		OutputDir: filepath.Join(root, "output"),
		CacheDir:  filepath.Join(root, "cache"),
		KillGrace: 200 * time.Millisecond,
	}
	for _, d := range []string{filepath.Join(inv.WorkDir, "arguments"), filepath.Join(inv.WorkDir, "temp"), inv.OutputDir, inv.CacheDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(inv.WorkDir, "arguments", "user-input"), nil, 0o644)
	return inv
}

func (e env) prepareAndRun(t *testing.T, r *docker.Runner, inv runner.Invocation) (runner.Exit, error) {
	t.Helper()
	p, err := r.Prepare(context.Background(), inv.Addon)
	if err != nil {
		t.Fatal(err)
	}
	exit, err := r.Run(context.Background(), p, inv)
	e.assertNoContainers(t, inv.RunID)
	return exit, err
}

func (e env) testOperatorEnv(t *testing.T) {
	a := e.dockerfileAddon(t, pure("envy"), `printf '%s' "$SECRET_TOKEN" > "$OUTPUT_DIR/secret"; printf '%s' "$ADDON_DIR" > "$OUTPUT_DIR/addon-dir"; echo '{}'`, nil)
	r := e.runner(t, nil)
	ex := e.executor(t, r)
	value := `s3cr3t with spaces = and "quotes" 'too'`
	ex.Env = func(string) (map[string]string, error) {
		return map[string]string{"SECRET_TOKEN": value, "ADDON_DIR": "must-not-win"}, nil
	}
	outDir := filepath.Join(t.TempDir(), "out")
	res := e.run(t, ex, executor.Request{Steps: []executor.Step{{Addon: a}}, OutputDir: outDir})
	if res.Kind != executor.Success {
		t.Fatalf("result %s: %s %q", res.Kind, res.Error, res.StderrTail)
	}
	if got, _ := os.ReadFile(filepath.Join(outDir, "secret")); string(got) != value {
		t.Errorf("SECRET_TOKEN = %q, want %q", got, value)
	}
	if got, _ := os.ReadFile(filepath.Join(outDir, "addon-dir")); string(got) != "addons/envy-1.0" {
		t.Errorf("ADDON_DIR = %q, want addons/envy-1.0 (relative to WORK)", got)
	}
}

func (e env) testHardening(t *testing.T) {
	a := e.dockerfileAddon(t, pure("hardened"), `out="$OUTPUT_DIR"
grep CapEff /proc/self/status | tr -d '\t' > "$out/caps"
grep NoNewPrivs /proc/self/status | tr -d '\t' > "$out/nnp"
if touch /rootfs-write 2>/dev/null; then echo writable; else echo read-only; fi > "$out/root"
if echo x > /tmp/x; then echo ok; fi > "$out/tmp"
cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null | head -1 > "$out/pids"
echo '{}'`, nil)
	// A read-only root is a switch, off by default (Docspell's images write
	// their HOME); the test checks that the switch works.
	r := e.runner(t, func(c *docker.Config) {
		c.PerAddon = map[string]docker.Limits{"hardened": {Pids: 99}}
		c.ReadOnlyRoot = true
	})
	outDir := filepath.Join(t.TempDir(), "out")
	res := e.run(t, e.executor(t, r), executor.Request{Steps: []executor.Step{{Addon: a}}, OutputDir: outDir})
	if res.Kind != executor.Success {
		t.Fatalf("result %s: %s %q", res.Kind, res.Error, res.StderrTail)
	}
	want := map[string]string{"caps": "CapEff:0000000000000000", "nnp": "NoNewPrivs:1", "root": "read-only", "tmp": "ok", "pids": "99"}
	for f, w := range want {
		got, _ := os.ReadFile(filepath.Join(outDir, f))
		if strings.TrimSpace(string(got)) != w {
			t.Errorf("%s = %q, want %q", f, strings.TrimSpace(string(got)), w)
		}
	}
}

func (e env) testOOM(t *testing.T) {
	cwd, _ := os.Getwd()
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(cwd, "oom")); err == nil {
			t.Error("the engine client wrote an oom file into berth's working directory")
		}
	})
	// tmpfs pages count against the container's memory and cannot be
	// swapped (memory-swap = memory): the OOM killer must act.
	// The hog waits a moment first: on cgroup v1 the engine watches for
	// OOM kills only once the container has started, and misses one in
	// its first milliseconds on a busy machine (see docs/runner-docker.md).
	a := e.dockerfileAddon(t, pure("hog"), "sleep 0.5\nexec dd if=/dev/zero of=/tmp/fill bs=1M count=128\n", nil)
	// /tmp is a tmpfs only under a read-only root (off by default).
	r := e.runner(t, func(c *docker.Config) {
		c.PerAddon = map[string]docker.Limits{"hog": {Memory: "16m"}}
		c.ReadOnlyRoot = true
	})
	res := e.run(t, e.executor(t, r), executor.Request{Steps: []executor.Step{{Addon: a}}})
	if res.Kind != executor.ExecutionFailed || !res.Addons[0].OutOfMemory {
		t.Errorf("result %s (%s) outOfMemory=%v, want execution-failed out of memory", res.Kind, res.Error, res.Addons[0].OutOfMemory)
	}
}

func (e env) testDoctor(t *testing.T) {
	ctx := context.Background()
	work := t.TempDir()
	if err := e.runner(t, nil).Doctor(ctx, work); err != nil {
		t.Errorf("Doctor with a visible working dir: %v", err)
	}
	elsewhere := t.TempDir()
	for name, target := range map[string]string{
		"the mapped path does not exist":       "/nonexistent/berth-doctor",
		"the mapped path is another directory": elsewhere,
	} {
		t.Run(name, func(t *testing.T) {
			r := e.runner(t, func(c *docker.Config) { c.PathMap = map[string]string{work: target} })
			err := r.Doctor(ctx, work)
			var pe *docker.PathError
			if !errors.As(err, &pe) {
				t.Fatalf("Doctor err = %v, want *PathError", err)
			}
			if !strings.Contains(err.Error(), "path-map") || !strings.Contains(err.Error(), work) {
				t.Errorf("the message does not print the fix: %v", err)
			}
		})
	}
	if left, _ := os.ReadDir(work); len(left) > 0 {
		t.Errorf("doctor left files in the working dir: %v", left)
	}
	// Probe containers are labelled with the directory they probed; other
	// tests' probes may exist for a moment, ours must not.
	out, err := e.c.Run(ctx, []string{"ps", "-a", "--filter", "label=" + docker.LabelProbe, "--format", `{{.Label "` + docker.LabelProbe + `"}}`}, engine.RunOpts{})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range strings.Fields(string(out)) {
		if strings.HasPrefix(dir, work) || strings.HasPrefix(dir, elsewhere) || strings.HasPrefix(dir, "/nonexistent/berth-doctor") {
			t.Errorf("doctor left a probe container for %s", dir)
		}
	}
}

func (e env) testCannotStart(t *testing.T) {
	a := e.dockerfileAddon(t, pure("noentry"), "", map[string]string{
		"Dockerfile": "FROM " + enginetest.BusyboxRef + "\nENTRYPOINT [\"/no/such/program\"]\n",
	})
	r := e.runner(t, nil)
	res := e.run(t, e.executor(t, r), executor.Request{Steps: []executor.Step{{Addon: a}}})
	if res.Kind != executor.ExecutionFailed || !strings.Contains(res.Error, "did not start") {
		t.Errorf("result %s (%s), want execution-failed: did not start", res.Kind, res.Error)
	}
}

func TestAvailableSaysHowToFix(t *testing.T) {
	r := docker.New(docker.Config{Binary: "/nonexistent/docker"})
	if err := r.Available(context.Background()); err == nil || !strings.Contains(err.Error(), "install") {
		t.Errorf("missing binary: Available() = %v, want an error saying to install it", err)
	}
	c := enginetest.RequireDocker(t)
	if err := docker.New(docker.Config{Binary: c.Binary}).Available(context.Background()); err != nil {
		t.Errorf("running daemon: Available() = %v", err)
	}
	cfg := docker.DefaultConfig()
	cfg.Binary = c.Binary
	cfg.GlobalArgs = []string{"--host", "unix:///nonexistent/docker.sock"}
	if err := docker.New(cfg).Available(context.Background()); err == nil || !strings.Contains(err.Error(), "start it") {
		t.Errorf("unreachable daemon: Available() = %v, want an error saying to start it", err)
	}
}

func (e env) testExample(t *testing.T) {
	a, err := addon.Load(filepath.Join("..", "..", "examples", "docker-hello"))
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := addon.ContentHash(a.Dir)
	e.removeImage(t, docker.ImageTag(a.Meta.Name, a.Meta.Version, hash))
	r := e.runner(t, nil)
	outDir := filepath.Join(t.TempDir(), "out")
	res := e.run(t, e.executor(t, r), executor.Request{
		Steps:     []executor.Step{{Addon: a, UserInput: "Hello, berth"}},
		Item:      &executor.Item{Data: []byte(`{"id":"item1"}`)},
		OutputDir: outDir,
	})
	if res.Kind != executor.Success || !res.Isolated {
		t.Fatalf("result %s isolated=%v: %s %q", res.Kind, res.Isolated, res.Error, res.StderrTail)
	}
	out, _ := json.Marshal(res.Output)
	if !strings.Contains(string(out), "greeted-from-a-container") {
		t.Errorf("output = %s", out)
	}
	if got, _ := os.ReadFile(filepath.Join(outDir, "greeting.txt")); strings.TrimSpace(string(got)) != "Hello, berth" {
		t.Errorf("greeting.txt = %q", got)
	}
}

func (e env) testLeftovers(t *testing.T) {
	ctx := context.Background()
	exited, running := "berth-test-leftover-exited-"+nonce(), "berth-test-leftover-running-"+nonce()
	overdue, inTime := "berth-test-leftover-overdue-"+nonce(), "berth-test-leftover-in-time-"+nonce()
	for _, n := range []string{exited, running, overdue, inTime} {
		t.Cleanup(func() {
			// kill first: podman's rm -f waits 10s for sleep to heed SIGTERM.
			e.c.KillContainer(context.Background(), n, "KILL")
			e.c.RemoveContainer(context.Background(), n, true)
		})
	}
	label := docker.LabelRunner + "=docker"
	if _, err := e.c.Run(ctx, []string{"run", "--name", exited, "--label", label, enginetest.BusyboxRef, "true"}, engine.RunOpts{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Run(ctx, []string{"run", "-d", "--name", running, "--label", label, enginetest.BusyboxRef, "sleep", "60"}, engine.RunOpts{}); err != nil {
		t.Fatal(err)
	}
	// Containers of runs whose berth died: one past its time limit, one
	// still within it.
	for n, deadline := range map[string]time.Time{overdue: time.Now().Add(-time.Minute), inTime: time.Now().Add(time.Hour)} {
		dl := docker.LabelDeadline + "=" + deadline.UTC().Format(time.RFC3339)
		if _, err := e.c.Run(ctx, []string{"run", "-d", "--name", n, "--label", label, "--label", dl, enginetest.BusyboxRef, "sleep", "60"}, engine.RunOpts{}); err != nil {
			t.Fatal(err)
		}
	}
	r := e.runner(t, nil)
	// Fresh leftovers are kept: another berth may still inspect them.
	first, err := r.RemoveLeftovers(ctx, time.Hour)
	if err != nil || slices.Contains(first, exited) {
		t.Fatalf("RemoveLeftovers(1h) = %v, %v; want the fresh container kept", first, err)
	}
	time.Sleep(2100 * time.Millisecond) // age the exited container
	removed, err := r.RemoveLeftovers(ctx, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	removed = append(removed, first...)
	// A daemon started by another package's tests at the same time sweeps
	// too, so the leftovers may be gone before this call sees them: what
	// counts is that they are gone and the others are not.
	if slices.Contains(removed, running) || slices.Contains(removed, inTime) {
		t.Errorf("removed %v, among them a container still within its time", removed)
	}
	for _, n := range []string{running, inTime} {
		if _, err := e.c.InspectContainer(ctx, n); err != nil {
			t.Errorf("the running container %s is gone: %v", n, err)
		}
	}
	for _, n := range []string{exited, overdue} {
		if _, err := e.c.InspectContainer(ctx, n); err == nil {
			t.Errorf("the leftover %s is still there (removed: %v)", n, removed)
		}
	}
}
