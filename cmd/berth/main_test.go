package main_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/engine/enginetest"
	"github.com/berth-dev/berth/runner/runnertest"
)

var berthBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-cli-test")
	if err != nil {
		panic(err)
	}
	// berth, its daemon and its sandbox init, side by side as installed;
	// other users may run them (kill_test.go's nspawn.sudo case).
	if err := os.Chmod(dir, 0o755); err != nil {
		panic(err)
	}
	berthBin = filepath.Join(dir, "berth")
	if out, err := exec.Command("go", "build", "-o", dir+"/", ".", "../berth-sandbox-init").CombinedOutput(); err != nil {
		panic("building berth: " + err.Error() + "\n" + string(out))
	}
	if out, err := exec.Command("go", "build", "-tags", "daemon", "-o", filepath.Join(dir, "berthd"), ".").CombinedOutput(); err != nil {
		panic("building berthd: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type cliResult struct {
	stdout, stderr string
	code           int
}

// berth runs the CLI with an isolated working and cache dir.
func berth(t *testing.T, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(berthBin, args...)
	tmp := t.TempDir()
	cmd.Env = append(os.Environ(), "BERTH_WORKING_DIR="+filepath.Join(tmp, "work"), "BERTH_CACHE_DIR="+filepath.Join(tmp, "cache"), "BERTH_SANDBOX=none",
		"BERTH_OUTBOUND_ALLOW_LOOPBACK=true") // the tests' servers listen on 127.0.0.1
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cliResult{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

func TestAddonRunExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"the bundled example succeeds", []string{"addon", "run", "../../examples/hello", "--args", "hi"}, 0, "result: success", ""},
		{"a non-zero exit is execution-error", []string{"addon", "run", "testdata/addons/exit3"}, 3, "something broke", "execution-error"},
		{"stdout that is not JSON is decoding-error", []string{"addon", "run", "testdata/addons/notjson"}, 5, "not JSON", "decoding-error"},
		{"an unknown action is decoding-error naming the path", []string{"addon", "run", "testdata/addons/unknown-action"}, 5, `commands[0].actions[0].action: unknown action "frobnicate"`, ""},
		{"stdout over the cap is execution-failed", []string{"addon", "run", "testdata/addons/bigout"}, 4, "cap", "execution-failed"},
		{"a timeout is execution-failed", []string{"addon", "run", "testdata/addons/sleeper", "--timeout", "300ms"}, 4, "timed out", ""},
		{"a missing source is bad input", []string{"addon", "run", "testdata/addons/does-not-exist"}, 2, "", "does-not-exist"},
		{"an unknown runner is bad input", []string{"addon", "run", "../../examples/hello", "--runners", "teleport"}, 2, "", `unknown runner "teleport"`},
		{"an unknown flag is bad input", []string{"addon", "run", "../../examples/hello", "--teleport"}, 2, "", "unknown flag: --teleport"},
		{"a flag value that does not parse is bad input", []string{"addon", "run", "../../examples/hello", "--timeout", "soon"}, 2, "", `invalid argument "soon" for "--timeout"`},
		{"no source at all is bad input", []string{"addon", "run"}, 2, "", "requires at least 1 arg"},
		{"--args with --args-file is bad input", []string{"addon", "run", "../../examples/hello", "--args", "a", "--args-file", "../../examples/hello/hello.sh"}, 2, "", "--args and --args-file"},
		{"an --output-dir that is a file is bad input, before anything runs", []string{"addon", "run", "../../examples/hello", "--output-dir", "main.go"}, 2, "", "--output-dir: main.go is not a directory"},
		{"a misspelt subcommand is bad input", []string{"addon", "chek", "../../examples/hello"}, 2, "", `unknown command "chek" for "berth addon"`},
		{"an unknown command is bad input", []string{"teleport"}, 2, "", `unknown command "teleport" for "berth"`},
		{"a command group alone shows its help", []string{"addon"}, 0, "Available Commands", ""},
		{"a negative timeout is bad input", []string{"addon", "run", "../../examples/hello", "--timeout", "-1s"}, 2, "", "--timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := berth(t, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, tt.stdout) || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stdout %q / stderr %q do not contain %q / %q", r.stdout, r.stderr, tt.stdout, tt.stderr)
			}
		})
	}
	if left := runnertest.ProcessesWithArg("987123"); len(left) > 0 {
		t.Errorf("the timed-out addon left processes: %v", left)
	}
}

func TestAddonRunJSON(t *testing.T) {
	item := filepath.Join(t.TempDir(), "item.json")
	os.WriteFile(item, []byte(`{"id":"item-42","name":"Invoice"}`), 0o644)
	out := filepath.Join(t.TempDir(), "out")
	r := berth(t, "addon", "run", "../../examples/hello", "--args", "Hi", "--item-data", item, "--json", "--output-dir", out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	var res struct {
		Addon, Runner, Result string
		Pure, Isolated        bool
		OutputFiles           []string
		Output                struct {
			Commands []struct {
				ItemID  string
				Actions []struct{ Action string }
			}
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("--json printed no JSON object: %v\n%s", err, r.stdout)
	}
	if res.Addon != "hello-1.0.0" || res.Runner != "trivial" || res.Result != "success" || !res.Pure {
		t.Errorf("result = %+v", res)
	}
	if len(res.Output.Commands) != 1 || res.Output.Commands[0].ItemID != "item-42" {
		t.Errorf("output = %+v", res.Output)
	}
	if b, err := os.ReadFile(filepath.Join(out, "greeting.txt")); err != nil || strings.TrimSpace(string(b)) != "Hi" {
		t.Errorf("greeting.txt = %q, %v", b, err)
	}
}

// zipDir zips dir with a top-level directory, as GitHub archives do.
func zipDir(t *testing.T, dir, top string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, _ := d.Info()
		h, _ := zip.FileInfoHeader(info)
		h.Name = top + "/" + rel
		h.Method = zip.Deflate
		w, _ := zw.CreateHeader(h)
		b, _ := os.ReadFile(p)
		w.Write(b)
		return nil
	})
	zw.Close()
	return buf.Bytes()
}

func TestAddonRunFromZipAndURL(t *testing.T) {
	data := zipDir(t, "../../examples/hello", "hello-main")
	zipFile := filepath.Join(t.TempDir(), "hello.zip")
	os.WriteFile(zipFile, data, 0o644)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hello.zip" {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	defer srv.Close()
	for _, src := range []string{zipFile, srv.URL + "/hello.zip"} {
		r := berth(t, "addon", "run", src, "--args", "zipped")
		if r.code != 0 || !strings.Contains(r.stdout, "result: success") {
			t.Errorf("%s: exit %d\n%s\n%s", src, r.code, r.stdout, r.stderr)
		}
	}
	r := berth(t, "addon", "run", srv.URL+"/missing.zip")
	if r.code != 2 || !strings.Contains(r.stderr, "404") {
		t.Errorf("missing URL: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestHostileZipIsRefused(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("../escaped.txt")
	w.Write([]byte("gotcha"))
	zw.Close()
	dir := t.TempDir()
	zipFile := filepath.Join(dir, "evil.zip")
	os.WriteFile(zipFile, buf.Bytes(), 0o644)
	r := berth(t, "addon", "check", zipFile)
	if r.code != 2 || !strings.Contains(r.stderr, "../escaped.txt") {
		t.Errorf("exit %d, stderr %q: want exit 2 naming the entry", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "escaped.txt")); err == nil {
		t.Error("the zip wrote outside its target")
	}
}

func TestAddonCheck(t *testing.T) {
	r := berth(t, "addon", "check", "../../examples/hello")
	for _, want := range []string{"name:     hello", "version:  1.0.0", "existing-item", "runners:  trivial", "pure"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, r.stdout)
		}
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "docspell-addon.yaml"), []byte("meta:\n  name: x\n  version: '1'\ntriggers: [sometimes]\n"), 0o644)
	r = berth(t, "addon", "check", bad)
	if r.code != 2 || !strings.Contains(r.stderr, "docspell-addon.yaml: line 4: triggers[0]: unknown trigger") {
		t.Errorf("exit %d stderr %q", r.code, r.stderr)
	}
}

func TestAddonCheckWarnsWhatDocspellWouldRefuseAndChangesNothing(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "docspell-addon.yaml"), []byte("meta:\n  name: x\n  version: 1.10\nrunner:\n  trivial:\n    exec: run.sh\n    enable: yes\n  nix: {}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\n"), 0o644)
	r := berth(t, "addon", "check", dir)
	for _, want := range []string{"version:  1.10\n", "runners:  trivial", "warning:  Docspell would refuse this: meta.version: 1.10 is a number", "warning:  Docspell would refuse this: runner.nix has no enable"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("exit %d, output lacks %q:\n%s%s", r.code, want, r.stdout, r.stderr)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "run.sh")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("check changed the exec file: %v %v", fi.Mode(), err)
	}
}

func TestAddonCheckRefusesHostileYAMLWithoutPanicking(t *testing.T) {
	for name, doc := range map[string]string{
		"alias bomb":           string(mustRead(t, "../../addon/testdata/descriptors/alias-bomb.yaml")),
		"tag on an empty args": "meta: {name: x, version: '1'}\nargs: !x\n",
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "docspell-addon.yaml"), []byte(doc), 0o644)
		r := berth(t, "addon", "check", dir)
		if r.code != 2 || !strings.Contains(r.stderr, "docspell-addon.yaml: line ") || strings.Contains(r.stderr, "panic") {
			t.Errorf("%s: exit %d stderr %q, want exit 2 naming the file and line", name, r.code, r.stderr)
		}
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAddonNewScaffoldsARunnableAddon(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fresh")
	if r := berth(t, "addon", "new", "fresh", "--dir", dir); r.code != 0 {
		t.Fatalf("new: %d %s", r.code, r.stderr)
	}
	if r := berth(t, "addon", "run", dir, "--args", "x"); r.code != 0 {
		t.Fatalf("running the scaffold: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestChainFailureReturnsNoOutput(t *testing.T) {
	r := berth(t, "addon", "run", "../../examples/hello", "testdata/addons/exit3", "testdata/addons/notjson", "--json")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3", r.code)
	}
	var res struct {
		Output *json.RawMessage
		Addons []struct{ Addon string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Output != nil || len(res.Addons) != 2 {
		t.Errorf("output %v, addons %v: want no output and the third addon not run", res.Output, res.Addons)
	}
}

func TestDockerAddonBuildsOnceThenRuns(t *testing.T) {
	enginetest.BusyboxImage(t, enginetest.RequireDocker(t))
	// Copy the fixture so that its content hash, and so its tag, is new
	// to this test run: the first build must really build.
	dir := t.TempDir()
	for _, f := range []string{"docspell-addon.yaml", "Dockerfile", "tag.sh"} {
		b, err := os.ReadFile(filepath.Join("testdata/addons/docker-tagger", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "tag.sh" {
			b = append(b, []byte("# "+t.Name()+" "+time.Now().String()+"\n")...)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	first := berth(t, "addon", "build", dir)
	if first.code != 0 || !strings.Contains(first.stdout, " built") {
		t.Fatalf("first build: exit %d\n%s\n%s", first.code, first.stdout, first.stderr)
	}
	second := berth(t, "addon", "build", dir)
	if second.code != 0 || !strings.Contains(second.stdout, " cached") || strings.Contains(second.stderr, "Step 1") {
		t.Fatalf("second build was not a cache hit: exit %d\n%s\n%s", second.code, second.stdout, second.stderr)
	}
	out := filepath.Join(t.TempDir(), "out")
	r := berth(t, "addon", "run", dir, "--args", "boxed", "--runners", "docker", "--json", "--output-dir", out)
	if r.code != 0 || !strings.Contains(r.stdout, `"boxed"`) || !strings.Contains(r.stdout, `"isolated": true`) {
		t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "seen.txt")); strings.TrimSpace(string(b)) != "boxed" {
		t.Errorf("seen.txt = %q", b)
	}
	var res struct{ RunID string }
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.RunID == "" {
		t.Fatalf("no run id in %s: %v", r.stdout, err)
	}
	ps, err := exec.Command("docker", "ps", "-aq", "--filter", "label=berth.run="+res.RunID).Output()
	if err != nil || strings.TrimSpace(string(ps)) != "" {
		t.Errorf("containers left behind: %q %v", ps, err)
	}
}

func TestInterruptKillsTheAddonTree(t *testing.T) {
	cmd := exec.Command(berthBin, "addon", "run", "testdata/addons/sleeper")
	tmp := t.TempDir()
	cmd.Env = append(os.Environ(), "BERTH_WORKING_DIR="+filepath.Join(tmp, "work"), "BERTH_CACHE_DIR="+filepath.Join(tmp, "cache"), "BERTH_SANDBOX=none", "BERTH_KILL_GRACE=200ms")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the addon's processes are up, then press Ctrl-C.
	deadline := time.Now().Add(10 * time.Second)
	for len(runnertest.ProcessesWithArg("987123")) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 4 {
		t.Errorf("exit %d (%v), want 4 (execution-failed: cancelled)", code, err)
	}
	if left := runnertest.ProcessesWithArg("987123"); len(left) > 0 {
		t.Errorf("processes survived Ctrl-C: %v", left)
	}
	if entries, _ := os.ReadDir(filepath.Join(tmp, "work")); len(entries) > 1 {
		t.Errorf("the cancelled run left its working dir: %v", entries)
	}
}

func TestDefaultSandboxIsolatesAPureAddon(t *testing.T) {
	cmd := exec.Command(berthBin, "addon", "run", "../../examples/hello", "--json")
	tmp := t.TempDir()
	cmd.Env = append(os.Environ(), "BERTH_WORKING_DIR="+filepath.Join(tmp, "work"), "BERTH_CACHE_DIR="+filepath.Join(tmp, "cache"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var res struct {
		Result   string
		Isolated bool
		Warnings []string
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	if res.Result != "success" || !res.Isolated || len(res.Warnings) != 0 {
		t.Errorf("result %+v: want success, isolated, no warnings (the builtin sandbox works here)", res)
	}
}

func TestTheSandboxInitBesideBerthIsUsedElseBerthItself(t *testing.T) {
	alone := filepath.Join(t.TempDir(), "berth")
	self, err := os.ReadFile(berthBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(alone, self, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, bin, want string }{
		{"installed side by side", berthBin, "init: " + filepath.Join(filepath.Dir(berthBin), "berth-sandbox-init")},
		{"berth alone", alone, "init: berth itself"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tmp := t.TempDir()
			env := append(os.Environ(), "BERTH_WORKING_DIR="+filepath.Join(tmp, "work"), "BERTH_CACHE_DIR="+filepath.Join(tmp, "cache"))
			cmd := exec.Command(c.bin, "doctor")
			cmd.Env = env
			out, _ := cmd.CombinedOutput() // doctor fails when an engine is missing; the sandbox line is what counts
			var line string
			for _, l := range strings.Split(string(out), "\n") {
				if strings.Contains(l, "sandbox builtin") {
					line = l
				}
			}
			if !strings.HasPrefix(line, "ok") || !strings.Contains(line, c.want) {
				t.Fatalf("berth doctor's builtin sandbox line %q, want ok and %q\n%s", line, c.want, out)
			}
			run := exec.Command(c.bin, "addon", "run", "../../examples/hello", "--sandbox", "builtin", "--json")
			run.Env = env
			if out, err := run.Output(); err != nil || !strings.Contains(string(out), `"isolated": true`) {
				t.Errorf("a sandboxed run: %v\n%s", err, out)
			}
		})
	}
}

func TestAURLTokenIsNotShownWhenTheAddonIsInvalid(t *testing.T) {
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "docspell-addon.yaml"), []byte("meta:\n  name: x\n  version: '1'\ntriggers: [sometimes]\n"), 0o644)
	data := zipDir(t, bad, "bad")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(data) }))
	defer srv.Close()
	r := berth(t, "addon", "check", srv.URL+"/bad.zip?token=hunter2")
	if r.code != 2 || !strings.Contains(r.stderr, "unknown trigger") {
		t.Errorf("exit %d, stderr %q: want exit 2 naming the bad trigger", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "hunter2") {
		t.Errorf("stderr %q shows the token of the URL", r.stderr)
	}
}

func TestAnAddonInAReadOnlyDirectoryRuns(t *testing.T) {
	// The exec file lacks its x bit and the directory cannot be changed:
	// berth makes its copy in WORK executable instead.
	if os.Geteuid() != 0 {
		t.Skip("needs root to bind-mount the addon read-only")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "docspell-addon.yaml"), []byte("meta: {name: ro, version: '1'}\nrunner: {trivial: {enable: true, exec: run.sh}}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\necho '{}'\n"), 0o644)
	script := `mount --bind -o ro "$1" "$1" && exec "$2" addon run "$1"`
	cmd := exec.Command(unshare, "-m", "sh", "-c", script, "sh", dir, berthBin)
	tmp := t.TempDir()
	cmd.Env = append(os.Environ(), "BERTH_WORKING_DIR="+filepath.Join(tmp, "work"), "BERTH_CACHE_DIR="+filepath.Join(tmp, "cache"), "BERTH_SANDBOX=none")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "result: success") {
		t.Errorf("%v\n%s", err, out)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "run.sh")); fi.Mode().Perm() != 0o644 {
		t.Errorf("the read-only addon's run.sh changed mode to %v", fi.Mode().Perm())
	}
}

func TestTheExampleQuotesAnyUserInputInItsOutput(t *testing.T) {
	item := filepath.Join(t.TempDir(), "item.json")
	os.WriteFile(item, []byte(`{"id":"item-42"}`), 0o644)
	for _, input := range []string{`say "hi"`, `back\slash`, "two\nlines\tand a tab"} {
		r := berth(t, "addon", "run", "../../examples/hello", "--args", input, "--item-data", item, "--json")
		if r.code != 0 {
			t.Fatalf("input %q: exit %d: %s %s", input, r.code, r.stdout, r.stderr)
		}
		var res struct {
			Output struct {
				Commands []struct {
					Actions []struct{ Action, Notes string }
				}
			}
		}
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("input %q: %v\n%s", input, err, r.stdout)
		}
		var notes string
		for _, c := range res.Output.Commands {
			for _, a := range c.Actions {
				if a.Action == "add-notes" {
					notes = a.Notes
				}
			}
		}
		if notes != input {
			t.Errorf("add-notes = %q, want the user input %q", notes, input)
		}
	}
}
