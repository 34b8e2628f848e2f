package executor_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/runner/trivial"
)

func load(t *testing.T, name string) *addon.Addon {
	t.Helper()
	a, err := addon.Load(filepath.Join("testdata", "addons", name))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newExecutor(t *testing.T, runners ...runner.Runner) *executor.Executor {
	m := map[string]runner.Runner{}
	var pref []string
	for _, r := range runners {
		m[r.Name()] = r
		pref = append(pref, r.Name())
	}
	if len(runners) == 0 {
		m["trivial"] = trivial.New(nil)
		pref = []string{"trivial"}
	}
	return &executor.Executor{Runners: m, Preference: pref, WorkRoot: t.TempDir(), CacheRoot: t.TempDir(), Timeout: time.Minute}
}

func steps(t *testing.T, names ...string) []executor.Step {
	var out []executor.Step
	for _, n := range names {
		out = append(out, executor.Step{Addon: load(t, n)})
	}
	return out
}

func tags(t *testing.T, res *executor.Result) string {
	t.Helper()
	b, err := json.Marshal(res.Output)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestChainSharesDirectoriesAndConcatenatesOutput(t *testing.T) {
	ex := newExecutor(t)
	out := filepath.Join(t.TempDir(), "kept")
	res, err := ex.Run(context.Background(), executor.Request{Steps: steps(t, "tag-a", "tag-b"), OutputDir: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != executor.Success {
		t.Fatalf("result %s: %s %q", res.Kind, res.Error, res.StderrTail)
	}
	got := tags(t, res)
	ia, ib := strings.Index(got, `["a"]`), strings.Index(got, `["b"]`)
	if ia < 0 || ib < 0 || ia > ib {
		t.Errorf("output = %s, want a's command then b's", got)
	}
	if len(res.OutputFiles) != 1 || res.OutputFiles[0] != "a.txt" {
		t.Errorf("output files = %v", res.OutputFiles)
	}
	if _, err := os.Stat(filepath.Join(out, "a.txt")); err != nil {
		t.Errorf("--output-dir did not keep a.txt: %v", err)
	}
}

func TestChainFailureStopsAndReturnsNoOutput(t *testing.T) {
	ex := newExecutor(t)
	out := filepath.Join(t.TempDir(), "kept")
	res, err := ex.Run(context.Background(), executor.Request{Steps: steps(t, "tag-a", "fail-3", "marker"), OutputDir: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != executor.ExecutionError || res.ExitCode != 3 {
		t.Errorf("result %s exit %d, want the first failure: execution-error 3", res.Kind, res.ExitCode)
	}
	if res.Output != nil || len(res.OutputFiles) != 0 {
		t.Errorf("a failed chain returned output %v files %v", res.Output, res.OutputFiles)
	}
	if len(res.Addons) != 2 {
		t.Errorf("%d addons ran, want 2 (fail fast)", len(res.Addons))
	}
	for _, ar := range res.Addons {
		if ar.Output != nil {
			t.Errorf("a failed chain returned the output of %s: %+v", ar.Addon, *ar.Output)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "a.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the output dir of a failed chain holds files: %v", err)
	}
	matches, _ := filepath.Glob(filepath.Join(ex.CacheRoot, "*", "marker-ran"))
	if len(matches) != 0 {
		t.Errorf("the third addon ran after the second failed: %v", matches)
	}
}

func TestNoFailFastRunsEveryAddonButStillFails(t *testing.T) {
	ex := newExecutor(t)
	res, err := ex.Run(context.Background(), executor.Request{Steps: steps(t, "fail-3", "marker"), NoFailFast: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Addons) != 2 || res.Addons[1].Kind != executor.Success {
		t.Fatalf("addons = %+v, want both run", res.Addons)
	}
	if res.Kind != executor.ExecutionError || res.Output != nil {
		t.Errorf("result %s output %v, want the failure and no output", res.Kind, res.Output)
	}
}

// fakeRunner pretends to be another runner kind and fails in a chosen
// way: it tests the fallback rules, which are pure logic.
type fakeRunner struct {
	name  string
	exit  int
	out   string
	err   error
	calls *int
}

func (f fakeRunner) Name() string                    { return f.name }
func (f fakeRunner) Available(context.Context) error { return nil }
func (f fakeRunner) Prepare(context.Context, *addon.Addon) (runner.Prepared, error) {
	return runner.Prepared{}, nil
}
func (f fakeRunner) Run(context.Context, runner.Prepared, runner.Invocation) (runner.Exit, error) {
	*f.calls++
	return runner.Exit{Code: f.exit, Stdout: []byte(f.out)}, f.err
}

// twoRunnerAddon enables docker (by image) and trivial.
func twoRunnerAddon(t *testing.T, networking bool) *addon.Addon {
	dir := t.TempDir()
	desc := "meta: {name: two, version: '1'}\nrunner:\n  docker: {image: none/such}\n  trivial: {enable: true, exec: run.sh}\noptions: {networking: " + map[bool]string{true: "true", false: "false"}[networking] + "}\n"
	os.WriteFile(filepath.Join(dir, "docspell-addon.yaml"), []byte(desc), 0o644)
	os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\necho '{}'\n"), 0o755)
	a, err := addon.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestRunnerFallback(t *testing.T) {
	tests := []struct {
		name       string
		networking bool
		fake       fakeRunner
		wantKind   executor.Kind
		wantTries  int
	}{
		{"a pure addon falls back after an execution error", false, fakeRunner{exit: 1}, executor.Success, 2},
		{"a pure addon falls back after an execution failure", false, fakeRunner{err: errors.New("engine exploded")}, executor.Success, 2},
		{"a pure addon does not fall back after a decoding error", false, fakeRunner{out: "not json"}, executor.DecodingError, 1},
		{"an impure addon never falls back", true, fakeRunner{exit: 1}, executor.ExecutionError, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			tt.fake.name, tt.fake.calls = addon.RunnerDocker, &calls
			ex := newExecutor(t, tt.fake, trivial.New(nil))
			res, err := ex.Run(context.Background(), executor.Request{Steps: []executor.Step{{Addon: twoRunnerAddon(t, tt.networking)}}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Kind != tt.wantKind || len(res.Addons[0].Attempts) != tt.wantTries {
				t.Fatalf("result %s after %d attempts (%s), want %s after %d", res.Kind, len(res.Addons[0].Attempts), res.Error, tt.wantKind, tt.wantTries)
			}
			if first := res.Addons[0].Attempts[0]; first.Runner != addon.RunnerDocker || first.Kind == executor.Success {
				t.Errorf("first attempt = %+v, want the failing docker attempt kept", first)
			}
			if tt.fake.err != nil && !strings.Contains(res.Addons[0].Attempts[0].Error, "engine exploded") {
				t.Errorf("the real error of the first attempt was lost: %+v", res.Addons[0].Attempts[0])
			}
		})
	}
}

func TestNoUsableRunnerSaysWhy(t *testing.T) {
	ex := newExecutor(t)
	ex.Preference = []string{addon.RunnerNixFlake, addon.RunnerDocker}
	res, err := ex.Run(context.Background(), executor.Request{Steps: steps(t, "marker")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != executor.ExecutionFailed {
		t.Fatalf("result = %s", res.Kind)
	}
	for _, want := range []string{"no usable runner", "offers [trivial]", "configured for [nix-flake, docker]"} {
		if !strings.Contains(res.Error, want) {
			t.Errorf("error %q does not say %q", res.Error, want)
		}
	}
	if strings.Count(res.Error, "marker-") != 1 {
		t.Errorf("error %q names the addon more than once", res.Error)
	}
}

func TestRequireIsolationRefusesAnUnisolatedPureRun(t *testing.T) {
	ex := newExecutor(t)
	ex.RequireIsolation = true
	res, err := ex.Run(context.Background(), executor.Request{Steps: steps(t, "marker")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != executor.ExecutionFailed || !strings.Contains(res.Error, "require-isolation") {
		t.Fatalf("result %s: %s", res.Kind, res.Error)
	}
	// An impure addon is not affected by the policy.
	res, err = ex.Run(context.Background(), executor.Request{Steps: steps(t, "impure")})
	if err != nil || res.Kind != executor.Success {
		t.Fatalf("impure run: %v %+v", err, res)
	}
}

func TestCancelStopsTheChain(t *testing.T) {
	ex := newExecutor(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := ex.Run(ctx, executor.Request{Steps: steps(t, "marker")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != executor.ExecutionFailed || !strings.Contains(res.Error, "cancel") {
		t.Errorf("result %s: %s", res.Kind, res.Error)
	}
}

func TestBadRequests(t *testing.T) {
	ex := newExecutor(t)
	if _, err := ex.Run(context.Background(), executor.Request{}); !errors.Is(err, executor.ErrBadRequest) {
		t.Errorf("empty request: err = %v", err)
	}
	_, err := ex.Run(context.Background(), executor.Request{Steps: steps(t, "marker"), Item: &executor.Item{Data: []byte("{not json")}})
	if !errors.Is(err, executor.ErrBadRequest) {
		t.Errorf("bad item JSON: err = %v", err)
	}
	entries, _ := os.ReadDir(ex.WorkRoot)
	if len(entries) != 0 {
		t.Errorf("a rejected request left %d entries in the working dir", len(entries))
	}
}

func TestRunLeavesNoWorkingDirectory(t *testing.T) {
	ex := newExecutor(t)
	if _, err := ex.Run(context.Background(), executor.Request{Steps: steps(t, "tag-a")}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(ex.WorkRoot)
	if len(entries) != 0 {
		t.Errorf("working dir holds %d entries after the run", len(entries))
	}
}

// TestOutputFileNamesResolveInsideTheOutputDir follows Docspell's
// resolution of output file names against OUTPUT_DIR
// (modules/addonlib/src/main/scala/docspell/addons/out/NewFile.scala:29-35:
// a missing file is ignored with a warning), except that nothing may
// resolve outside OUTPUT_DIR (issue 11 item 4).
func TestOutputFileNamesResolveInsideTheOutputDir(t *testing.T) {
	tests := []struct {
		name string
		file string
		kind executor.Kind
		text string
		// want is the name in the result's output; "" means dropped.
		want string
	}{
		{"a file the addon wrote is accepted", "text.txt", executor.Success, "", "text.txt"},
		{"an absolute path inside OUTPUT_DIR as the addon saw it is accepted, made relative", "OUTPUT_DIR/text.txt", executor.Success, "", "text.txt"},
		{"a missing file is dropped with a warning, as Docspell does", "nothing.txt", executor.Success, `"nothing.txt" does not exist in OUTPUT_DIR; ignored`, ""},
		{"a path leaving OUTPUT_DIR is a decoding error", "../../../etc/passwd", executor.DecodingError, `files[0].textFiles["att1"]: "../../../etc/passwd" must be a path inside OUTPUT_DIR`, ""},
		{"an absolute path elsewhere is a decoding error", "/etc/passwd", executor.DecodingError, "must be a path inside OUTPUT_DIR", ""},
		{"an absolute path climbing out of OUTPUT_DIR is a decoding error", "OUTPUT_DIR/../../etc/passwd", executor.DecodingError, "must be a path inside OUTPUT_DIR", ""},
		{"a link in OUTPUT_DIR to a host file is a decoding error", "link-out", executor.DecodingError, `"link-out"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := newExecutor(t)
			res, err := ex.Run(context.Background(), executor.Request{Steps: []executor.Step{{Addon: load(t, "files-out"), UserInput: tt.file}}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Kind != tt.kind {
				t.Fatalf("result %s (%s), want %s", res.Kind, res.Error, tt.kind)
			}
			if tt.kind != executor.Success {
				if !strings.Contains(res.Error, tt.text) {
					t.Errorf("error %q does not contain %q", res.Error, tt.text)
				}
				return
			}
			if got := strings.Join(res.Warnings, "; "); !strings.Contains(got, tt.text) || tt.text == "" && got != "" && strings.Contains(got, "output") {
				t.Errorf("warnings %q, want one containing %q", res.Warnings, tt.text)
			}
			if len(res.Output.Files) != 1 {
				t.Fatalf("output files = %+v", res.Output.Files)
			}
			got, ok := res.Output.Files[0].TextFiles["att1"]
			if tt.want == "" && ok {
				t.Errorf("the missing file is still in the output: %q", got)
			}
			if tt.want != "" && got != tt.want {
				t.Errorf("textFiles[att1] = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKeepingOutputFilesNeverWritesThroughASymlinkInOutputDir(t *testing.T) {
	// A symlink left in --output-dir (say by an earlier addon's output)
	// must not let a later run write outside that directory.
	outside := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(outside, []byte("untouched"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "kept")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(out, "a.txt")); err != nil {
		t.Fatal(err)
	}
	res, err := newExecutor(t).Run(context.Background(), executor.Request{Steps: steps(t, "tag-a"), OutputDir: out})
	if b, _ := os.ReadFile(outside); string(b) != "untouched" {
		t.Fatalf("the file outside --output-dir now holds %q", b)
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != executor.Success {
		t.Fatalf("result %s: %s", res.Kind, res.Error)
	}
	fi, err := os.Lstat(filepath.Join(out, "a.txt"))
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("a.txt in --output-dir is not the addon's regular file: %v %v", fi, err)
	}
}

func TestKeepingOutputFilesRefusesASymlinkedDirectoryInOutputDir(t *testing.T) {
	// files-out writes sub/text.txt; --output-dir/sub points outside.
	outside := t.TempDir()
	out := filepath.Join(t.TempDir(), "kept")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(out, "sub")); err != nil {
		t.Fatal(err)
	}
	chain := []executor.Step{{Addon: load(t, "files-out"), UserInput: "text.txt"}, {Addon: load(t, "nested-out")}}
	_, err := newExecutor(t).Run(context.Background(), executor.Request{Steps: chain, OutputDir: out})
	if entries, _ := os.ReadDir(outside); len(entries) > 0 {
		t.Fatalf("the run wrote %s outside --output-dir", entries[0].Name())
	}
	if err == nil || !strings.Contains(err.Error(), "sub/b.txt") {
		t.Fatalf("error %v does not name sub/b.txt", err)
	}
	if _, err := os.Stat(filepath.Join(out, "text.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("text.txt was left in --output-dir after the failure (stat: %v)", err)
	}
}

func TestKeepingOutputFilesLeavesNothingBehindOnFailure(t *testing.T) {
	// The chain writes a.txt and text.txt; text.txt cannot be kept
	// because a directory of that name is in the way: a.txt, kept first,
	// must not be left behind either.
	out := filepath.Join(t.TempDir(), "kept")
	if err := os.MkdirAll(filepath.Join(out, "text.txt", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	chain := []executor.Step{{Addon: load(t, "files-out"), UserInput: "text.txt"}, {Addon: load(t, "tag-a")}}
	_, err := newExecutor(t).Run(context.Background(), executor.Request{Steps: chain, OutputDir: out})
	if err == nil {
		t.Fatal("the run succeeded although text.txt could not be kept")
	}
	if _, err := os.Stat(filepath.Join(out, "a.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a.txt was left in --output-dir after the failure (stat: %v)", err)
	}
	if _, err := os.Stat(filepath.Join(out, "text.txt", "x")); err != nil {
		t.Errorf("what was in --output-dir before the run is gone: %v", err)
	}
}
