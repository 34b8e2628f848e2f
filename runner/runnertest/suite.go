package runnertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/runner"
)

// Harness adapts the suite to one runner.
type Harness struct {
	// Runner is the runner under test.
	Runner runner.Runner
	// Package returns an addon (in a new directory) whose program runs
	// script with /bin/sh. descriptor is the YAML of the descriptor
	// without the runner section, which Package adds.
	Package func(t *testing.T, descriptor, script string) *addon.Addon
	// Isolated is whether pure runs must report isolation.
	Isolated bool
	// AfterRun, if set, asserts that the run left nothing behind (for
	// example no container); it is called after every run.
	AfterRun func(t *testing.T, res *executor.Result)
	// Timeout is the run timeout used by the timeout test (default 2s).
	Timeout time.Duration
}

// Run runs the contract suite.
func Run(t *testing.T, h Harness) {
	t.Run("the program sees the contract's directories, variables and arguments", h.testContract)
	t.Run("HOME is writable and USER and LOGNAME name the user", h.testHomeUser)
	t.Run("the cache dir survives between runs", h.testCache)
	t.Run("a non-zero exit is an execution error with its code", h.testExitCode)
	t.Run("valid output is decoded", h.testOutput)
	t.Run("stdout that is not JSON is a decoding error", h.testNotJSON)
	t.Run("stdout over the cap fails the run", h.testCap)
	t.Run("a timeout kills the whole process tree", h.testTimeout)
	t.Run("attack: a chain's first addon links WORK/addons to a host dir", h.testAddonsLink)
	t.Run("attack: a pure addon plants its code in the next, impure addon's dir", h.testInjection)
	t.Run("attack: a chain's first addon links the user-input file or its dir to the host", h.testUserInputLink)
	t.Run("attack: a pure addon leaves set-id programs in CACHE_DIR and OUTPUT_DIR", h.testSetID)
}

func (h Harness) executor(t *testing.T) *executor.Executor {
	return &executor.Executor{
		Runners:    map[string]runner.Runner{h.Runner.Name(): h.Runner},
		Preference: []string{h.Runner.Name()},
		WorkRoot:   t.TempDir(),
		CacheRoot:  t.TempDir(),
		Timeout:    time.Minute,
		KillGrace:  500 * time.Millisecond,
		Env: func(name string) (map[string]string, error) {
			return map[string]string{"OPERATOR_VAR": "from-config", "ADDON_DIR": "must-be-overridden"}, nil
		},
		PathEnv: []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
	}
}

func (h Harness) run(t *testing.T, ex *executor.Executor, req executor.Request) *executor.Result {
	t.Helper()
	res, err := ex.Run(context.Background(), req)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if h.AfterRun != nil {
		h.AfterRun(t, res)
	}
	return res
}

const pureDescriptor = `meta:
  name: NAME
  version: "1.0"
args: ["first arg", "--flag"]
options:
  networking: false
  collectOutput: true
`

func descriptor(name string) string { return strings.ReplaceAll(pureDescriptor, "NAME", name) }

// contractScript records what the program sees into OUTPUT_DIR.
const contractScript = `set -u
out="$OUTPUT_DIR"
env > "$out/env"
pwd > "$out/pwd"
n=0
for a in "$@"; do n=$((n+1)); printf '%s\n' "$a" > "$out/arg$n"; done
echo $n > "$out/argc"
cat "$3" > "$out/user-input-via-arg"
cat arguments/user-input > "$out/user-input-relative"
[ -f "$ADDON_DIR/docspell-addon.yaml" ] && echo yes > "$out/addon-dir-ok"
echo tmp > "$TMPDIR/x" && echo yes > "$out/tmp-ok"
[ -d "$CACHE_DIR" ] && echo yes > "$out/cache-ok"
if [ -n "${ITEM_DATA_JSON:-}" ]; then cat "$ITEM_DATA_JSON" > "$out/item-data"; ls "$ITEM_PDF_DIR" > "$out/item-pdfs"; cat "$ITEM_PDF_JSON" > "$out/item-pdf-json"; fi
echo '{}'
`

func (h Harness) testContract(t *testing.T) {
	a := h.Package(t, descriptor("contract"), contractScript)
	ex := h.executor(t)
	t.Setenv("BERTH_TEST_HOST_SECRET", "must-not-leak")
	pdfs := t.TempDir()
	if err := os.WriteFile(filepath.Join(pdfs, "att1.pdf"), []byte("%PDF-1.4"), 0o644); err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(t.TempDir(), "out")
	input := "user said: it's \"quoted\"\nand two lines"
	res := h.run(t, ex, executor.Request{
		Steps:     []executor.Step{{Addon: a, UserInput: input}},
		OutputDir: outDir,
		Item:      &executor.Item{Data: []byte(`{"id":"item1"}`), PdfsDir: pdfs},
	})
	if res.Kind != executor.Success {
		t.Fatalf("result %s: %s (stderr %q)", res.Kind, res.Error, res.StderrTail)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(outDir, name))
		if err != nil {
			t.Errorf("the program did not write %s: %v", name, err)
		}
		return strings.TrimRight(string(b), "\n")
	}
	env := map[string]string{}
	for line := range strings.Lines(read("env")) {
		k, v, _ := strings.Cut(strings.TrimRight(line, "\n"), "=")
		env[k] = v
	}
	for _, k := range []string{"ADDON_DIR", "TMPDIR", "TMP_DIR", "OUTPUT_DIR", "CACHE_DIR", "ITEM_DIR", "ITEM_DATA_JSON", "ITEM_ARGS_JSON", "ITEM_PDF_DIR", "ITEM_ORIGINAL_DIR", "ITEM_PDF_JSON", "ITEM_ORIGINAL_JSON", "PATH"} {
		if _, ok := env[k]; !ok {
			t.Errorf("variable %s is not set", k)
		}
	}
	if env["ADDON_DIR"] == "must-be-overridden" {
		t.Error("an operator variable overrode ADDON_DIR")
	}
	if env["OPERATOR_VAR"] != "from-config" {
		t.Errorf("OPERATOR_VAR = %q, want the configured value", env["OPERATOR_VAR"])
	}
	if _, ok := env["BERTH_TEST_HOST_SECRET"]; ok {
		t.Error("berth's own environment leaked into the addon")
	}
	if env["ITEM_DATA_JSON"] != "item/item-data.json" {
		t.Errorf("ITEM_DATA_JSON = %q, want the path relative to WORK", env["ITEM_DATA_JSON"])
	}
	if got := read("argc"); got != "3" {
		t.Errorf("argc = %s, want 3 (two descriptor args and the user-input path)", got)
	}
	if read("arg1") != "first arg" || read("arg2") != "--flag" {
		t.Errorf("args = %q, %q", read("arg1"), read("arg2"))
	}
	if !strings.HasSuffix(read("arg3"), "arguments/user-input") {
		t.Errorf("last arg = %q, want the user-input path", read("arg3"))
	}
	if got := read("user-input-via-arg"); got != input {
		t.Errorf("user input via argument = %q, want %q", got, input)
	}
	if got := read("user-input-relative"); got != input {
		t.Errorf("user input relative to the working dir = %q (working dir is not WORK?)", got)
	}
	for _, f := range []string{"addon-dir-ok", "tmp-ok", "cache-ok"} {
		if read(f) != "yes" {
			t.Errorf("check %s failed", f)
		}
	}
	if read("item-data") != `{"id":"item1"}` {
		t.Errorf("item data = %q", read("item-data"))
	}
	// joex names each file by its attachment id (GenericItemAddonTask.scala:111).
	if read("item-pdfs") != "att1" {
		t.Errorf("item pdfs = %q, want the attachment id att1", read("item-pdfs"))
	}
	var pdfList []map[string]any
	if err := json.Unmarshal([]byte(read("item-pdf-json")), &pdfList); err != nil || len(pdfList) != 1 ||
		pdfList[0]["name"] != "att1.pdf" || pdfList[0]["id"] != "att1" || pdfList[0]["mimetype"] != "application/pdf" {
		t.Errorf("item/pdf-files.json = %q (%v)", read("item-pdf-json"), err)
	}
	if h.Isolated && !res.Isolated {
		t.Error("a pure run was not reported isolated")
	}
	if !res.Pure {
		t.Error("a pure addon was not reported pure")
	}
}

// homeUserScript does what JVM, Python, scala-cli and shell addons do
// first: write a cache under ~/.cache and ask who they are. Docspell runs
// trivial and nix addons on the host, where both hold
// (modules/addonlib/src/main/scala/docspell/addons/runner/TrivialRunner.scala),
// and docker images as their USER, whose HOME the engine sets
// (DockerRunner.scala:51-62).
const homeUserScript = `out="$OUTPUT_DIR"
printf '%s' "${HOME:-}" > "$out/home"
[ -e "$HOME/.cache/berth-suite-home-user/f" ] && echo yes > "$out/home-had-file"
mkdir -p "$HOME/.cache/berth-suite-home-user" && echo x > "$HOME/.cache/berth-suite-home-user/f" && echo yes > "$out/home-writable"
printf '%s' "${USER:-}" > "$out/user"
printf '%s' "${LOGNAME:-}" > "$out/logname"
echo '{}'
`

func (h Harness) testHomeUser(t *testing.T) {
	a := h.Package(t, descriptor("home-user"), homeUserScript)
	ex := h.executor(t)
	// A HOME on the host would be shared by every run and addon (each
	// reading the others' caches); berth's own must stay untouched.
	hostHome, _ := os.UserHomeDir()
	hostFile := filepath.Join(hostHome, ".cache", "berth-suite-home-user")
	if hostHome != "" {
		os.RemoveAll(hostFile)
	}
	for run := 1; run <= 2; run++ {
		outDir := filepath.Join(t.TempDir(), "out")
		res := h.run(t, ex, executor.Request{Steps: []executor.Step{{Addon: a}}, OutputDir: outDir})
		if res.Kind != executor.Success {
			t.Fatalf("run %d: result %s: %s (stderr %q)", run, res.Kind, res.Error, res.StderrTail)
		}
		read := func(name string) string {
			b, _ := os.ReadFile(filepath.Join(outDir, name))
			return strings.TrimSpace(string(b))
		}
		home := read("home")
		if home == "" || !filepath.IsAbs(home) {
			t.Errorf("run %d: HOME = %q, want an absolute path", run, home)
		}
		if read("home-writable") != "yes" {
			t.Errorf("run %d: HOME %q is not writable", run, home)
		}
		if u := read("user"); u == "" || read("logname") != u {
			t.Errorf("run %d: USER = %q, LOGNAME = %q; want both set to the same name", run, u, read("logname"))
		}
		if read("home-had-file") == "yes" {
			t.Errorf("run %d: HOME %q holds what an earlier run wrote: runs share it (CACHE_DIR is the place for that)", run, home)
		}
		if _, err := os.Stat(hostFile); hostHome != "" && err == nil {
			t.Errorf("run %d: the addon wrote into berth's own HOME (%s)", run, hostFile)
		}
		if _, err := os.Stat("/.cache/berth-suite-home-user"); err == nil {
			os.RemoveAll("/.cache/berth-suite-home-user")
			t.Errorf("run %d: the addon wrote into the host's /.cache (HOME unset)", run)
		}
	}
}

func (h Harness) testCache(t *testing.T) {
	a := h.Package(t, descriptor("cache"), `n=$(cat "$CACHE_DIR/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$CACHE_DIR/count"; echo "{\"commands\":[{\"command\":\"item-update\",\"itemId\":\"i$n\",\"actions\":[]}]}"`)
	ex := h.executor(t)
	var last string
	for range 2 {
		res := h.run(t, ex, executor.Request{Steps: []executor.Step{{Addon: a}}})
		if res.Kind != executor.Success {
			t.Fatalf("result %s: %s %q", res.Kind, res.Error, res.StderrTail)
		}
		b, _ := json.Marshal(res.Output)
		last = string(b)
	}
	if !strings.Contains(last, `"i2"`) {
		t.Errorf("second run did not see the first run's cache: output %s", last)
	}
}

func (h Harness) testExitCode(t *testing.T) {
	a := h.Package(t, descriptor("exit3"), `echo failing >&2; exit 3`)
	res := h.run(t, h.executor(t), executor.Request{Steps: []executor.Step{{Addon: a}}})
	if res.Kind != executor.ExecutionError || res.ExitCode != 3 {
		t.Fatalf("got %s exit %d, want execution-error exit 3", res.Kind, res.ExitCode)
	}
	if res.Output != nil {
		t.Error("a failed run returned output")
	}
	if len(res.StderrTail) == 0 || res.StderrTail[len(res.StderrTail)-1] != "failing" {
		t.Errorf("stderr tail = %q", res.StderrTail)
	}
}

func (h Harness) testOutput(t *testing.T) {
	a := h.Package(t, descriptor("tagger"), `echo '{"commands":[{"command":"item-update","itemId":"item1","actions":[{"action":"add-tags","tags":["invoice"]}]}]}'`)
	res := h.run(t, h.executor(t), executor.Request{Steps: []executor.Step{{Addon: a}}})
	if res.Kind != executor.Success {
		t.Fatalf("result %s: %s", res.Kind, res.Error)
	}
	b, _ := json.Marshal(res.Output)
	if !strings.Contains(string(b), `"invoice"`) || !strings.Contains(string(b), `"add-tags"`) {
		t.Errorf("output = %s", b)
	}
}

func (h Harness) testNotJSON(t *testing.T) {
	a := h.Package(t, descriptor("chatty"), `echo "hello, I am not JSON"`)
	res := h.run(t, h.executor(t), executor.Request{Steps: []executor.Step{{Addon: a}}})
	if res.Kind != executor.DecodingError {
		t.Fatalf("got %s, want decoding-error", res.Kind)
	}
	if !strings.Contains(res.Error, "JSON") {
		t.Errorf("error does not say the output is not JSON: %s", res.Error)
	}
}

func (h Harness) testCap(t *testing.T) {
	a := h.Package(t, descriptor("flood"), `while :; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done`)
	ex := h.executor(t)
	ex.StdoutCap = 256 << 10
	res := h.run(t, ex, executor.Request{Steps: []executor.Step{{Addon: a}}})
	if res.Kind != executor.ExecutionFailed || !strings.Contains(res.Error, "cap") {
		t.Fatalf("got %s (%s), want execution-failed naming the cap", res.Kind, res.Error)
	}
}

func (h Harness) testTimeout(t *testing.T) {
	token := strconv.Itoa(900000 + int(time.Now().UnixNano()%99999))
	// A child, a grandchild and a daemon that left the session all sleep
	// for a number no other process uses.
	a := h.Package(t, descriptor("sleeper"), fmt.Sprintf(`sleep %[1]s &
( sleep %[1]s & wait ) &
( setsid sleep %[1]s & ) 2>/dev/null || ( sleep %[1]s & )
trap '' TERM
sleep %[1]s
`, token))
	ex := h.executor(t)
	ex.Timeout = h.Timeout
	if ex.Timeout == 0 {
		ex.Timeout = 2 * time.Second
	}
	res := h.run(t, ex, executor.Request{Steps: []executor.Step{{Addon: a}}})
	if res.Kind != executor.ExecutionFailed || !strings.Contains(res.Error, "timed out") {
		t.Fatalf("got %s (%s), want execution-failed after a timeout", res.Kind, res.Error)
	}
	if left := ProcessesWithArg(token); len(left) > 0 {
		t.Errorf("processes survived the timeout: %v", left)
	}
}

// ProcessesWithArg lists the pids of live processes one of whose
// arguments is arg.
func ProcessesWithArg(arg string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if !isZombie(pid) && strings.Contains("\x00"+string(b), "\x00"+arg+"\x00") {
			out = append(out, pid)
		}
	}
	return out
}

func isZombie(pid int) bool {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return true
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "State:"); ok {
			return strings.HasPrefix(strings.TrimSpace(v), "Z")
		}
	}
	return false
}
