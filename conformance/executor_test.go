package conformance_test

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/config"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/output"
	"github.com/berth-dev/berth/runner"
)

// generate makes an addon as Docspell's AddonGenerator does
// (modules/addonlib/src/test/scala/docspell/addons/AddonGenerator.scala:47-115):
// a JSON descriptor with a trivial runner "addon.sh", networking = !collectOutput,
// and a script whose first line is blank, "#!/usr/bin/env bash" on the
// second, mode 777, both zipped; the zip is what berth loads.
func generate(t *testing.T, name string, collectOutput bool, script string) *addon.Addon {
	t.Helper()
	dir := t.TempDir()
	desc, _ := json.Marshal(map[string]any{
		"meta":     map[string]any{"name": name, "version": "1.0"},
		"triggers": []string{"existing-item"},
		"runner":   map[string]any{"trivial": map[string]any{"enable": true, "exec": "addon.sh"}},
		"options":  map[string]any{"networking": !collectOutput, "collectOutput": collectOutput},
	})
	zipPath := filepath.Join(dir, "addon.zip")
	f, err := os.Create(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, e := range []struct {
		name string
		body string
		mode os.FileMode
	}{
		{"docspell-addon.json", string(desc), 0o644},
		{"addon.sh", "\n#!/usr/bin/env bash\n\n" + script + "\n\n", 0o777},
	} {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		h.SetMode(e.mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e.body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	unpacked, cleanup, err := addon.Fetch(context.Background(), zipPath, t.TempDir(), addon.Limits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	a, err := addon.Load(unpacked)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// successAddon and failingAddon are AddonGenerator.scala:23-45.
func successAddon(t *testing.T, name string, out *output.Output) *addon.Addon {
	if out == nil {
		return generate(t, name, false, "exit 0")
	}
	b, _ := json.Marshal(out)
	return generate(t, name, true, "cat <<-EOF\n"+string(b)+"\nEOF")
}

func failingAddon(t *testing.T, name string) *addon.Addon { return generate(t, name, true, "exit 1") }

func tagOutput(tags ...string) *output.Output {
	return &output.Output{Commands: []output.Command{{Command: "item-update", ItemID: "xyz-item",
		Actions: []output.Action{{Action: "add-tags", Tags: tags}}}}}
}

// sandboxes are the ways AddonExecutorTest's cases run here: berth's
// default sandbox and none (Docspell's trivial runner runs on the host).
var sandboxes = []string{"auto", "none"}

func executorIn(t *testing.T, sandbox string, edit func(*config.Config)) *executor.Executor {
	t.Helper()
	cfg := config.Default()
	cfg.WorkingDir = filepath.Join(t.TempDir(), "work")
	cfg.CacheDir = filepath.Join(t.TempDir(), "cache")
	cfg.Runners = []string{"trivial"}
	cfg.Sandbox = sandbox
	if edit != nil {
		edit(&cfg)
	}
	return newExecutor(t, cfg)
}

func runChain(t *testing.T, ex *executor.Executor, noFailFast bool, addons ...*addon.Addon) *executor.Result {
	t.Helper()
	req := executor.Request{NoFailFast: noFailFast}
	for _, a := range addons {
		req.Steps = append(req.Steps, executor.Step{Addon: a})
	}
	res, err := ex.Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// AddonExecutorTest.scala:69-88 "fail early if configured so".
func TestAddonExecutorTest_FailEarlyIfConfiguredSo(t *testing.T) {
	for _, sb := range sandboxes {
		t.Run("sandbox "+sb, func(t *testing.T) {
			res := runChain(t, executorIn(t, sb, nil), false, failingAddon(t, "addon1"), successAddon(t, "addon2", tagOutput("tag1", "tag2")))
			if res.Kind != executor.ExecutionError || res.ExitCode != 1 || !res.Pure || len(res.Addons) != 1 {
				t.Errorf("result %s exit %d pure %v with %d addon results (%s), want execution-error 1, pure, one result", res.Kind, res.ExitCode, res.Pure, len(res.Addons), res.Error)
			}
		})
	}
}

// AddonExecutorTest.scala:90-111 "do not stop after failing addons".
func TestAddonExecutorTest_DoNotStopAfterFailingAddons(t *testing.T) {
	for _, sb := range sandboxes {
		t.Run("sandbox "+sb, func(t *testing.T) {
			res := runChain(t, executorIn(t, sb, nil), true, failingAddon(t, "addon1"), successAddon(t, "addon2", tagOutput("tag1", "tag2")))
			if res.Kind != executor.ExecutionError || !res.Pure || len(res.Addons) != 2 {
				t.Fatalf("result %s pure %v with %d addon results, want execution-error, pure, two results", res.Kind, res.Pure, len(res.Addons))
			}
			if a := res.Addons[0]; a.Kind != executor.ExecutionError || a.ExitCode != 1 {
				t.Errorf("addon1: %s exit %d (%s)", a.Kind, a.ExitCode, a.Error)
			}
			if a := res.Addons[1]; a.Kind != executor.Success {
				t.Errorf("addon2: %s (%s)", a.Kind, a.Error)
			}
			if res.Output != nil {
				t.Errorf("a failed chain has output %+v; Docspell applies none", res.Output)
			}
		})
	}
}

// AddonExecutorTest.scala:113-128 "inject env vars from addonEnvResolver":
// berth's resolver is the per-addon configuration, here in Docspell's
// joex shape (addons.configs).
func TestAddonExecutorTest_InjectEnvVarsFromAddonEnvResolver(t *testing.T) {
	v := "injected-value"
	for _, sb := range sandboxes {
		t.Run("sandbox "+sb, func(t *testing.T) {
			ex := executorIn(t, sb, func(c *config.Config) {
				c.Addons.Configs = []config.AddonConfig{{Name: "env-test-addon", Envs: []config.AddonEnvVar{{Name: "ADDON_FOO", Value: &v}}}}
			})
			a := generate(t, "env-test-addon", false, `if [ "$ADDON_FOO" = "injected-value" ]; then exit 0; else exit 1; fi`)
			if res := runChain(t, ex, false, a); res.Kind != executor.Success {
				t.Errorf("result %s: %s %q", res.Kind, res.Error, res.StderrTail)
			}
		})
	}
}

// AddonExecutorTest.scala:130-156 "combine outputs".
func TestAddonExecutorTest_CombineOutputs(t *testing.T) {
	out2 := &output.Output{Commands: []output.Command{{Command: "item-update", ItemID: "xyz-item",
		Actions: []output.Action{{Action: "set-name", Name: "new item name"}}}}}
	for _, sb := range sandboxes {
		t.Run("sandbox "+sb, func(t *testing.T) {
			res := runChain(t, executorIn(t, sb, nil), true, successAddon(t, "addon1", tagOutput("tag1", "tag2")), successAddon(t, "addon2", out2))
			if res.Kind != executor.Success || !res.Pure || len(res.Addons) != 2 {
				t.Fatalf("result %s pure %v with %d results: %s %q", res.Kind, res.Pure, len(res.Addons), res.Error, res.StderrTail)
			}
			got, _ := json.Marshal(res.Output)
			want, _ := json.Marshal(output.Merge(*tagOutput("tag1", "tag2"), *out2))
			if string(got) != string(want) {
				t.Errorf("output %s, want %s", got, want)
			}
		})
	}
}

// fake is a runner whose attempts are counted and whose result is fixed:
// AddonRunnerTest's MockRunner (AddonRunnerTest.scala:87-97).
type fake struct {
	name   string
	result string // "success", "error", "failed", "decoding"
	calls  *atomic.Int32
}

func (f fake) Name() string                    { return f.name }
func (f fake) Available(context.Context) error { return nil }
func (f fake) Prepare(context.Context, *addon.Addon) (runner.Prepared, error) {
	return runner.Prepared{Program: "x", Image: "x"}, nil
}
func (f fake) Run(context.Context, runner.Prepared, runner.Invocation) (runner.Exit, error) {
	f.calls.Add(1)
	switch f.result {
	case "error":
		return runner.Exit{Code: 1}, nil
	case "failed":
		return runner.Exit{}, errors.New("fail")
	case "decoding":
		return runner.Exit{Stdout: []byte("Decoding failed")}, nil
	}
	return runner.Exit{Stdout: []byte("{}")}, nil
}

// AddonRunnerTest.scala:33-85: AddonRunner.firstSuccessful over berth's
// four runner kinds, for a pure addon that offers all of them.
func TestAddonRunnerTest_FirstSuccessful(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"docspell-addon.yaml": "meta: {name: every-runner, version: '1.0'}\nrunner: {trivial: {enable: true, exec: run.sh}}\n",
		"run.sh":              "#!/bin/sh\n", "flake.nix": "{}", "Dockerfile": "FROM scratch\n", "addon.wasm": "\x00asm",
	} {
		os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755)
	}
	a, err := addon.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	order := []string{addon.RunnerWasm, addon.RunnerNixFlake, addon.RunnerDocker, addon.RunnerTrivial}
	for _, c := range []struct {
		name    string
		results []string
		calls   []int32
		want    executor.Kind
	}{
		{"firstSuccessful must stop on first success", []string{"success", "success", "success", "success"}, []int32{1, 0, 0, 0}, executor.Success},
		{"firstSuccessful must try with next on error", []string{"error", "success", "success", "success"}, []int32{1, 1, 0, 0}, executor.Success},
		{"do not retry on decoding errors", []string{"decoding", "success", "success", "success"}, []int32{1, 0, 0, 0}, executor.DecodingError},
		{"try on errors but stop on decoding error", []string{"failed", "failed", "decoding", "success"}, []int32{1, 1, 1, 0}, executor.DecodingError},
	} {
		t.Run(c.name, func(t *testing.T) {
			runners := map[string]runner.Runner{}
			counts := make([]*atomic.Int32, len(order))
			for i, name := range order {
				counts[i] = new(atomic.Int32)
				runners[name] = fake{name: name, result: c.results[i], calls: counts[i]}
			}
			ex := &executor.Executor{Runners: runners, Preference: order, WorkRoot: t.TempDir(), CacheRoot: t.TempDir()}
			res, err := ex.Run(context.Background(), executor.Request{Steps: []executor.Step{{Addon: a}}})
			if err != nil {
				t.Fatal(err)
			}
			var got []int32
			for _, n := range counts {
				got = append(got, n.Load())
			}
			if !slices.Equal(got, c.calls) || res.Kind != c.want {
				t.Errorf("calls %v result %s, want %v %s", got, res.Kind, c.calls, c.want)
			}
		})
	}
}

// AddonMetaTest.scala:21-37 "read meta from zip file" and "read meta
// from directory", with a fixture of the same descriptor, zipped under a
// top-level folder as GitHub's master zips are.
func TestAddonMetaTest_ReadMetaFromZipFileAndDirectory(t *testing.T) {
	want := addon.Descriptor{
		Meta:     addon.Meta{Name: "dummy-addon", Version: "2.9", Description: "Some dummy addon only for testing.\n"},
		Triggers: []addon.Trigger{addon.TriggerScheduled, addon.TriggerFinalProcessItem, addon.TriggerFinalReprocessItem},
		Options:  addon.Options{Networking: true, CollectOutput: true},
	}
	check := func(t *testing.T, a *addon.Addon) {
		if a.Meta != want.Meta || !slices.Equal(a.Triggers, want.Triggers) || a.Options != want.Options {
			t.Errorf("descriptor %+v %v %+v, want %+v %v %+v", a.Meta, a.Triggers, a.Options, want.Meta, want.Triggers, want.Options)
		}
		if got := a.Runners(); !slices.Equal(got, []string{addon.RunnerNixFlake, addon.RunnerDocker, addon.RunnerTrivial}) {
			t.Errorf("runners %v, want nix-flake, docker, trivial", got)
		}
		if !a.Runner.Trivial.Enable || a.Runner.Trivial.Exec != "src/addon.sh" || a.Runner.Docker.Build != "Dockerfile" {
			t.Errorf("runner section %+v", a.Runner)
		}
	}
	t.Run("read meta from directory", func(t *testing.T) {
		a, err := addon.Load(filepath.Join("testdata", "dummy-addon"))
		if err != nil {
			t.Fatal(err)
		}
		check(t, a)
	})
	t.Run("read meta from zip file", func(t *testing.T) {
		zipPath := filepath.Join(t.TempDir(), "docspell-dummy-addon-master.zip")
		f, _ := os.Create(zipPath)
		zw := zip.NewWriter(f)
		filepath.WalkDir(filepath.Join("testdata", "dummy-addon"), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(filepath.Join("testdata", "dummy-addon"), p)
			fi, _ := d.Info()
			h, _ := zip.FileInfoHeader(fi)
			h.Name = "docspell-dummy-addon-master/" + filepath.ToSlash(rel)
			w, _ := zw.CreateHeader(h)
			b, _ := os.ReadFile(p)
			w.Write(b)
			return nil
		})
		zw.Close()
		f.Close()
		dir, cleanup, err := addon.Fetch(context.Background(), zipPath, t.TempDir(), addon.Limits{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cleanup()
		a, err := addon.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		check(t, a)
	})
}

// AddonMetaTest.scala:39-46 "parse yaml with defaults": the descriptor
// parses, with Docspell's default options. (Loading such an addon is
// refused later for lack of a runner, as Docspell's run finds none.)
func TestAddonMetaTest_ParseYamlWithDefaults(t *testing.T) {
	d, err := addon.ParseDescriptor("docspell-addon.yaml", []byte("meta:\n  name: \"test\"\n  version: \"0.1.0\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Meta.Name != "test" || d.Meta.Version != "0.1.0" || d.Options.Networking || !d.Options.CollectOutput {
		t.Errorf("descriptor %+v %+v, want test 0.1.0 with Docspell's default options (no networking, collect output)", d.Meta, d.Options)
	}
}

// AddonOutputTest.scala:21-39 "decode sample output".
func TestAddonOutputTest_DecodeSampleOutput(t *testing.T) {
	out, err := output.Decode([]byte(`{ "files": [
    {
      "itemId": "qZDnyGIAJsXr",
      "textFiles": {
        "HPFvIDib6eA": "HPFvIDib6eA.txt"
      },
      "pdfFiles": {
        "HPFvIDib6eA": "HPFvIDib6eA.pdf"
      }
    }
  ]
}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Files) != 1 || out.Files[0].ItemID != "qZDnyGIAJsXr" || out.Files[0].TextFiles["HPFvIDib6eA"] != "HPFvIDib6eA.txt" || out.Files[0].PDFFiles["HPFvIDib6eA"] != "HPFvIDib6eA.pdf" {
		t.Errorf("decoded %+v", out)
	}
}

// AddonPostProcess skips an output file that does not exist with a
// warning and applies the rest (issue 11 item 4,
// modules/backend/src/main/scala/docspell/backend/joex/AddonPostProcess.scala).
func TestOutputNamingAMissingFileIsAppliedWithAWarning(t *testing.T) {
	a := generate(t, "missing-file", true, `echo text > "$OUTPUT_DIR/there.txt"
echo '{"files":[{"itemId":"i1","textFiles":{"a1":"there.txt","a2":"gone.txt"}}]}'`)
	res := runChain(t, executorIn(t, "none", nil), false, a)
	if res.Kind != executor.Success {
		t.Fatalf("result %s: %s", res.Kind, res.Error)
	}
	warned := strings.Contains(strings.Join(res.Warnings, "\n"), "gone.txt")
	for _, ar := range res.Addons {
		for _, at := range ar.Attempts {
			warned = warned || strings.Contains(strings.Join(at.Warnings, "\n"), "gone.txt")
		}
	}
	if !warned {
		t.Errorf("no warning names gone.txt: %q", res.Warnings)
	}
	if res.Output == nil || len(res.Output.Files) != 1 || res.Output.Files[0].TextFiles["a1"] != "there.txt" {
		t.Errorf("output %+v: the file that exists is not kept", res.Output)
	}
}
