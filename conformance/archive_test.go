package conformance_test

import (
	"archive/zip"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/runner"
)

// zipOf writes files into a zip at the top level and returns its path.
func zipOf(t *testing.T, files map[string]string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "addon.zip")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		h := &zip.FileHeader{Name: n, Method: zip.Deflate}
		h.SetMode(0o755)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(files[n]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

func loadZip(t *testing.T, zipPath string) *addon.Addon {
	t.Helper()
	dir, cleanup, err := addon.Fetch(context.Background(), zipPath, t.TempDir(), addon.Limits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	a, err := addon.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func loadDir(t *testing.T, files map[string]string) *addon.Addon {
	t.Helper()
	dir := t.TempDir()
	for n, body := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a, err := addon.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// AddonExecutorTest.scala:26-67 "select docker if Dockerfile exists",
// "select nix-flake if flake.nix exists", "select nix-flake and docker":
// a descriptor without a runner section (the dummy addon's meta,
// Fixtures.scala:37-55, with runner = None) gets the runners its files
// imply (AddonMeta.scala:53-73), in the configured order.
func TestAddonExecutorTest_SelectRunner(t *testing.T) {
	desc := "meta: {name: dummy-addon, version: '2.9'}\ntriggers: [scheduled, final-process-item, final-reprocess-item]\noptions: {networking: true, collectOutput: true}\n"
	preference := []string{addon.RunnerDocker, addon.RunnerNixFlake, addon.RunnerTrivial}
	for _, c := range []struct {
		name  string
		files []string
		want  []string
	}{
		{"select docker if Dockerfile exists", []string{"Dockerfile"}, []string{addon.RunnerDocker}},
		{"select nix-flake if flake.nix exists", []string{"flake.nix"}, []string{addon.RunnerNixFlake}},
		{"select nix-flake and docker", []string{"flake.nix", "Dockerfile"}, []string{addon.RunnerDocker, addon.RunnerNixFlake}},
	} {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{"docspell-addon.yaml": desc}
			for _, f := range c.files {
				files[f] = ""
			}
			a := loadDir(t, files)
			runners := map[string]runner.Runner{}
			for _, n := range preference {
				runners[n] = fake{name: n, calls: new(atomic.Int32)}
			}
			sel, err := runner.Select(context.Background(), a, preference, runners)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range sel {
				got = append(got, r.Name())
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("selected %v, want %v", got, c.want)
			}
		})
	}
}

// AddonArchiveTest.scala:45-53 "read archive from zip with yaml only":
// docspell-addon-single-file.zip holds nothing but a descriptor naming a
// docker image (an early tiborrr/docspell-addon-example).
func TestAddonArchiveTest_ReadArchiveFromZipWithYamlOnly(t *testing.T) {
	a := loadZip(t, zipOf(t, map[string]string{"docspell-addon.yml": `meta:
  name: "docspell-addon-example"
  version: "0.7.0"
  description: |
    A minimal example: it prints Hello and its argument.
triggers:
  - final-process-item
runner:
  docker:
    enable: true
    image: tiborr/docspell-addon-example:latest
options:
  networking: false
  collectOutput: true
`}))
	if a.Meta.Name != "docspell-addon-example" || a.Meta.Version != "0.7.0" || !slices.Equal(a.Runners(), []string{addon.RunnerDocker}) || !a.Pure() {
		t.Errorf("read %s %v pure=%v, want docspell-addon-example 0.7.0 [docker] pure", a.ID(), a.Runners(), a.Pure())
	}
}

// minimalAddon is writing.md:317-345's "Minimal Addon" (and
// minimal-addon.zip of AddonArchiveTest): a yaml descriptor without
// options and a bash script printing "Hello world!".
var minimalAddon = map[string]string{
	"docspell-addon.yml": "meta:\n  name: \"minimal-addon\"\n  version: \"0.1.0\"\ntriggers:\n  - existing-item\n  - scheduled\nrunner:\n  trivial:\n    enable: true\n    exec: addon.sh\n",
	"addon.sh":           "#!/usr/bin/env bash\necho \"Hello world!\"\n",
}

// AddonArchiveTest.scala:76-90 "Read minimal addon from path" and "from
// zip": name and version; without options it is pure (AddonMeta.scala:46-47:
// options.forall(_.isPure)) and its output is collected (:37-38).
func TestAddonArchiveTest_ReadMinimalAddon(t *testing.T) {
	for name, a := range map[string]*addon.Addon{
		"from path": loadDir(t, minimalAddon),
		"from zip":  loadZip(t, zipOf(t, minimalAddon)),
	} {
		t.Run(name, func(t *testing.T) {
			if a.Meta.Name != "minimal-addon" || a.Meta.Version != "0.1.0" || !slices.Equal(a.Triggers, []addon.Trigger{addon.TriggerExistingItem, addon.TriggerScheduled}) {
				t.Errorf("read %s %v", a.ID(), a.Triggers)
			}
			if !a.Pure() || !a.Options.CollectOutput || !slices.Equal(a.Runners(), []string{addon.RunnerTrivial}) {
				t.Errorf("options %+v runners %v, want Docspell's defaults (pure, collect output) and trivial", a.Options, a.Runners())
			}
		})
	}
}

// The minimal addon of writing.md:317-345 prints "Hello world!" with
// collectOutput on by default: Docspell decodes non-empty stdout and
// reports a decoding error (RunnerUtil.scala:137-141); so does berth.
func TestWritingMd_TheMinimalAddonsHelloWorldIsADecodingError(t *testing.T) {
	a := loadZip(t, zipOf(t, minimalAddon))
	for _, sb := range sandboxes {
		t.Run("sandbox "+sb, func(t *testing.T) {
			res := runChain(t, executorIn(t, sb, nil), false, a)
			if res.Kind != executor.DecodingError {
				t.Errorf("result %s (%s), want decoding-error", res.Kind, res.Error)
			}
		})
	}
}

// RunnerUtil.scala:112-114 and 137-143: without collectOutput stdout is
// not read at all, and an empty stdout is an empty success.
func TestRunnerUtil_StdoutIsIgnoredWithoutCollectOutputAndEmptyIsSuccess(t *testing.T) {
	for _, c := range []struct {
		name    string
		collect bool
		script  string
	}{
		{"stdout is ignored without collectOutput", false, `echo "Hello world!"`},
		{"an empty stdout is an empty success", true, `echo "logs go to stderr" >&2`},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := runChain(t, executorIn(t, "none", nil), false, generate(t, "out-addon", c.collect, c.script))
			if res.Kind != executor.Success || (res.Output != nil && (len(res.Output.Commands) > 0 || len(res.Output.Files) > 0)) {
				t.Errorf("result %s output %+v (%s), want success without output", res.Kind, res.Output, res.Error)
			}
		})
	}
}

// writing.md:178-270: the descriptor Docspell's docs show parses as they
// describe it: nix enabled (no flake.nix needed to offer it), docker and
// trivial disabled, an empty args, networking on.
func TestWritingMd_TheDocumentedDescriptorParses(t *testing.T) {
	a := loadDir(t, map[string]string{"docspell-addon.yaml": `# The meta section is required.
meta:
  name: "name-of-addon"
  version: "2.21"
  description: |
    Describe the purpose and how it must be used here
triggers:
  - final-process-item
  - final-reprocess-item
  - existing-item
runner:
  nix:
    enable: true
  docker:
    enable: false
    #image: myorg/myimage:latest
    build: Dockerfile
  trivial:
    enable: false
    exec: src/addon.sh
args:


options:
  networking: true
  collectOutput: true
`})
	if !slices.Equal(a.Runners(), []string{addon.RunnerNixFlake}) || len(a.Args) != 0 || a.Pure() || !a.Options.Networking {
		t.Errorf("runners %v args %q options %+v, want [nix-flake], no args, impure", a.Runners(), a.Args, a.Options)
	}
}

// AddonExecutor.scala:57 (and AddonExecutorTest.scala:158-167, the
// result's monoid): a run configuration is pure only when every addon
// in it is.
func TestAddonExecutor_ARunIsPureOnlyWhenEveryAddonIs(t *testing.T) {
	ex := executorIn(t, "none", nil)
	pure := successAddon(t, "pure-addon", tagOutput("a"))
	impure := generate(t, "impure-addon", false, "exit 0")
	if res := runChain(t, ex, false, pure); res.Kind != executor.Success || !res.Pure {
		t.Errorf("one pure addon: %s pure=%v", res.Kind, res.Pure)
	}
	if res := runChain(t, ex, false, pure, impure); res.Kind != executor.Success || res.Pure {
		t.Errorf("a pure and an impure addon: %s pure=%v, want success, not pure", res.Kind, res.Pure)
	}
}

// AddonExecutor.scala:75-87: an addon given twice in one run
// configuration is extracted once but run once per entry, each with its
// own user input (AddonRef.args, written before each run, :96-101).
func TestAddonExecutor_TheSameAddonTwiceRunsTwiceWithItsOwnInput(t *testing.T) {
	a := generate(t, "twice", true, `printf '{"commands":[{"command":"item-update","itemId":"x","actions":[{"action":"add-tags","tags":["%s"]}]}]}' "$(cat "$1")"`)
	ex := executorIn(t, "none", nil)
	res, err := ex.Run(context.Background(), executor.Request{Steps: []executor.Step{{Addon: a, UserInput: "one"}, {Addon: a, UserInput: "two"}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != executor.Success || len(res.Addons) != 2 {
		t.Fatalf("result %s with %d addon results (%s)", res.Kind, len(res.Addons), res.Error)
	}
	if got := tagsOf(t, res); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("tags %q, want one then two", got)
	}
}

// Where berth accepts what Docspell would refuse, the run says so too,
// not only berth addon check: an unquoted numeric version (Docspell's
// Meta.version is a String, AddonMeta.scala:82) and a runner block
// without enable (AddonMeta.scala:88-90, derived decoders without
// defaults).
func TestARunSaysWhatDocspellWouldRefuse(t *testing.T) {
	a := loadDir(t, map[string]string{
		"docspell-addon.yaml": "meta: {name: numeric, version: 1.10}\nrunner:\n  trivial: {exec: run.sh, enable: true}\n  nix: {}\n",
		"run.sh":              "#!/bin/sh\necho '{}'\n",
	})
	res := runChain(t, executorIn(t, "none", nil), false, a)
	if res.Kind != executor.Success {
		t.Fatalf("result %s: %s", res.Kind, res.Error)
	}
	all := strings.Join(res.Warnings, "\n")
	for _, want := range []string{"numeric-1.10: " + addon.DocspellRefuses, "meta.version", "runner.nix"} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
}

// Docspell builds ./Dockerfile and ignores runner.docker.build
// (DockerRunner.scala:65-73, DockerConfig.dockerBuild); berth honours it
// and says so.
func TestRunnerDockerBuildIsHonouredWithAWarning(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "build"), 0o755)
	os.WriteFile(filepath.Join(dir, "build", "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "docspell-addon.yaml"), []byte("meta: {name: built, version: '1'}\nrunner:\n  docker: {enable: true, build: build/Dockerfile}\n"), 0o644)
	a, err := addon.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(a.Warnings, "\n"); !strings.Contains(w, "Docspell ignores this key and builds ./Dockerfile") {
		t.Errorf("warnings %q", a.Warnings)
	}
}

// joex names every attachment by its id and writes a PDF and an original
// for each (GenericItemAddonTask.scala:107-128); where the host's item
// differs (no ids given, a PDF without an original), the run says so.
func TestARunSaysWhereTheItemDiffersFromWhatJoexWrites(t *testing.T) {
	dir := t.TempDir()
	scan := writeFile(t, dir, "Scan 1.pdf", "%PDF-1.4\n")
	a := successAddon(t, "item-addon", tagOutput("x"))
	res, err := executorIn(t, "none", nil).Run(context.Background(), executor.Request{
		Steps: []executor.Step{{Addon: a}},
		Item:  &executor.Item{Data: []byte(`{"id":"i1"}`), Pdfs: []executor.ItemFile{{Path: scan}, {ID: "a2", Path: scan}}, Originals: []executor.ItemFile{{ID: "a2", Path: scan}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(res.Warnings, "\n")
	for _, want := range []string{"item pdfs: ids derived from file names", "Scan_1 (Scan 1.pdf)", "Scan_1 has a PDF but no original"} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "a2 has") {
		t.Errorf("a2 has both and is named:\n%s", all)
	}
}

// AddonValidate.scala:67-80: Docspell installs an addon only with at
// least one trigger, and never one with neither output nor networking.
// berth runs an addon without triggers (from the CLI) with a warning,
// and refuses the useless one as Docspell does.
func TestAddonValidate_TriggersAndUselessOptions(t *testing.T) {
	t.Run("no triggers is a warning", func(t *testing.T) {
		a := loadDir(t, map[string]string{"docspell-addon.yaml": "meta: {name: untriggered, version: '1'}\nrunner: {trivial: {enable: true, exec: run.sh}}\n", "run.sh": "#!/bin/sh\n"})
		if w := strings.Join(a.Warnings, "\n"); !strings.Contains(w, addon.DocspellRefuses+"no triggers") {
			t.Errorf("warnings %q", a.Warnings)
		}
	})
	t.Run("no output and no networking is refused", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "docspell-addon.yaml"), []byte("meta: {name: useless, version: '1'}\ntriggers: [scheduled]\nrunner: {trivial: {enable: true, exec: run.sh}}\noptions: {networking: false, collectOutput: false}\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\n"), 0o755)
		if _, err := addon.Load(dir); err == nil || !strings.Contains(err.Error(), "options") {
			t.Errorf("loaded a useless addon: %v", err)
		}
	})
}
