package addon

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "descriptors", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseDescriptorAcceptsDocspellFormats(t *testing.T) {
	for _, name := range []string{"full.yaml", "full.json"} {
		t.Run(name+" parses with every field", func(t *testing.T) {
			d, err := ParseDescriptor(name, readFixture(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if d.Meta.Name != "full-addon" || d.Meta.Version != "2.9" || strings.TrimSpace(d.Meta.Description) != "Does everything." {
				t.Errorf("meta = %+v", d.Meta)
			}
			wantTriggers := []Trigger{TriggerFinalProcessItem, TriggerExistingItem, TriggerScheduled}
			if !slices.Equal(d.Triggers, wantTriggers) {
				t.Errorf("triggers = %v, want %v (case-insensitive)", d.Triggers, wantTriggers)
			}
			if !slices.Equal(d.Args, []string{"a", "b"}) {
				t.Errorf("args = %v", d.Args)
			}
			if d.Runner.Nix.Enable == nil || *d.Runner.Nix.Enable {
				t.Errorf("runner.nix.enable = %v, want explicit false", d.Runner.Nix.Enable)
			}
			if d.Runner.Docker.Image != "example/full:1" || d.Runner.Docker.Build != "docker/Dockerfile" {
				t.Errorf("runner.docker = %+v", d.Runner.Docker)
			}
			if !d.Runner.Trivial.Enable || d.Runner.Trivial.Exec != "src/run.sh" {
				t.Errorf("runner.trivial = %+v", d.Runner.Trivial)
			}
			if !d.Options.Networking || d.Options.CollectOutput || d.Options.Pure() {
				t.Errorf("options = %+v", d.Options)
			}
			if d.Runner.Wasm.Enable != nil || d.Runner.Wasm.Module != DefaultWasmModule {
				t.Errorf("runner.wasm = %+v, want the defaults for a Docspell descriptor without it", d.Runner.Wasm)
			}
		})
	}
}

func TestParseDescriptorReadsTheWasmSection(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		enable *bool
		module string
	}{
		{"enable and module as written", "runner:\n  wasm:\n    enable: true\n    module: bin/tagger.wasm\n", ptr(true), "bin/tagger.wasm"},
		{"an explicit false is kept", "runner: {wasm: {enable: false}}", ptr(false), DefaultWasmModule},
		{"a module alone leaves enable to detection", "runner: {wasm: {module: m.wasm}}", nil, "m.wasm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDescriptor("d.yaml", []byte("meta: {name: x, version: '1'}\n"+tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			w := d.Runner.Wasm
			if (w.Enable == nil) != (tt.enable == nil) || (w.Enable != nil && *w.Enable != *tt.enable) || w.Module != tt.module {
				t.Errorf("runner.wasm = enable %v module %q, want %v %q", w.Enable, w.Module, tt.enable, tt.module)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestParseDescriptorDefaults(t *testing.T) {
	tests := []struct {
		name       string
		yaml       string
		networking bool
		collect    bool
		pure       bool
	}{
		{"no options object means pure", "meta: {name: x, version: '1'}", false, true, true},
		{"a missing key in a present options object takes its default", string(readFixture(t, "partial-options.yaml")), true, true, false},
		{"collectOutput alone", "meta: {name: x, version: '1'}\noptions: {collectOutput: true}", false, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDescriptor("d.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if d.Options.Networking != tt.networking || d.Options.CollectOutput != tt.collect || d.Options.Pure() != tt.pure {
				t.Errorf("options = %+v pure=%t", d.Options, d.Options.Pure())
			}
		})
	}
}

func TestParseDescriptorRejectsBadInput(t *testing.T) {
	tests := []struct {
		file  string
		field string
		line  int
		text  string
	}{
		{"broken-yaml.yaml", "", 5, "broken-yaml.yaml: line 5"},
		{"broken.json", "", 3, "broken.json: line 3"},
		{"missing-meta.yaml", "meta", 0, "is required"},
		{"missing-name.yaml", "meta.name", 0, "is required"},
		{"missing-version.yaml", "meta.version", 0, "is required"},
		{"unknown-trigger.yaml", "triggers[1]", 0, `unknown trigger "when-the-moon-is-full"`},
		{"useless-options.yaml", "options", 0, "no way to have any effect"},
		{"trivial-no-exec.yaml", "runner.trivial.exec", 0, "is required"},
		{"exec-escapes.yaml", "runner.trivial.exec", 0, "inside the addon"},
		{"bad-name.yaml", "meta.name", 0, "may hold only"},
		{"args-not-list.yaml", "args", 2, "line 2: args: "},
		{"args-not-list-one-line.json", "args", 1, "line 1: args: "},
		{"flow-bad-bool.yaml", "runner.trivial.enable", 2, `line 2: runner.trivial.enable: must be true or false (yes/no and on/off are read as Docspell reads them), got a string "yes-please"`},
		{"wasm-escapes.yaml", "runner.wasm.module", 7, "line 7: runner.wasm.module: \"../../outside.wasm\" must be a relative path inside the addon"},
		{"wasm-escapes.json", "runner.wasm.module", 4, "line 4: runner.wasm.module: "},
		{"wasm-bad-enable.yaml", "runner.wasm.enable", 4, "line 4: runner.wasm.enable: must be true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.file+" names the problem", func(t *testing.T) {
			_, err := ParseDescriptor(tt.file, readFixture(t, tt.file))
			var de *DescriptorError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v (%T), want *DescriptorError", err, err)
			}
			if de.File != tt.file || de.Field != tt.field || (tt.line != 0 && de.Line != tt.line) {
				t.Errorf("error = %+v, want file %s field %q line %d", de, tt.file, tt.field, tt.line)
			}
			if !strings.Contains(err.Error(), tt.text) || !strings.Contains(err.Error(), tt.file) {
				t.Errorf("message %q does not contain %q and the file name", err, tt.text)
			}
		})
	}
}

func TestNumericVersionIsText(t *testing.T) {
	d, err := ParseDescriptor("v.yaml", readFixture(t, "numeric-version.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Meta.Version != "1.5" {
		t.Errorf("version = %q", d.Meta.Version)
	}
}

// writeAddon creates an addon directory from name → content; names
// ending in .sh are executable.
func writeAddon(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadDetectsRunners(t *testing.T) {
	meta := "meta: {name: x, version: '1'}\n"
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"flake.nix enables nix-flake", map[string]string{"docspell-addon.yaml": meta, "flake.nix": "{}"}, []string{RunnerNixFlake}},
		{"Dockerfile enables docker", map[string]string{"docspell-addon.yaml": meta, "Dockerfile": "FROM x"}, []string{RunnerDocker}},
		{"an image enables docker", map[string]string{"docspell-addon.yaml": meta + "runner: {docker: {image: foo}}"}, []string{RunnerDocker}},
		{"runner.nix.enable false wins over flake.nix", map[string]string{"docspell-addon.yaml": meta + "runner: {nix: {enable: false}, trivial: {enable: true, exec: a.sh}}", "flake.nix": "{}", "a.sh": "#!/bin/sh"}, []string{RunnerTrivial}},
		{"runner.docker.build names the Dockerfile", map[string]string{"docspell-addon.yaml": meta + "runner: {docker: {build: d/Containerfile}}", "d/Containerfile": "FROM x"}, []string{RunnerDocker}},
		{"an addon.wasm at the root enables wasm", map[string]string{"docspell-addon.yaml": meta, "addon.wasm": "\x00asm"}, []string{RunnerWasm}},
		{"runner.wasm.module names the module", map[string]string{"docspell-addon.yaml": meta + "runner: {wasm: {module: out/t.wasm}}", "out/t.wasm": "\x00asm"}, []string{RunnerWasm}},
		{"runner.wasm.enable true offers wasm before the module is built", map[string]string{"docspell-addon.yaml": meta + "runner: {wasm: {enable: true, module: out/t.wasm}}"}, []string{RunnerWasm}},
		{"runner.wasm.enable false wins over the module", map[string]string{"docspell-addon.yaml": meta + "runner: {wasm: {enable: false}, trivial: {enable: true, exec: a.sh}}", "addon.wasm": "\x00asm", "a.sh": "#!/bin/sh"}, []string{RunnerTrivial}},
		{"wasm comes first in preference order", map[string]string{"docspell-addon.yaml": meta + "runner: {trivial: {enable: true, exec: a.sh}}", "Dockerfile": "FROM x", "a.sh": "#!/bin/sh", "addon.wasm": "\x00asm"}, []string{RunnerWasm, RunnerDocker, RunnerTrivial}},
		{"all three in preference order", map[string]string{"docspell-addon.yaml": meta + "runner: {trivial: {enable: true, exec: a.sh}}", "flake.nix": "{}", "Dockerfile": "FROM x", "a.sh": "#!/bin/sh"}, []string{RunnerNixFlake, RunnerDocker, RunnerTrivial}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Load(writeAddon(t, tt.files))
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Runners(); !slices.Equal(got, tt.want) {
				t.Errorf("runners = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	meta := "meta: {name: x, version: '1'}\n"
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no descriptor", map[string]string{"README": "hi"}, "no addon descriptor found"},
		{"no runner at all", map[string]string{"docspell-addon.yaml": meta}, "enables no runner"},
		{"a wasm module that is a directory", map[string]string{"docspell-addon.yaml": meta + "runner: {wasm: {module: m.wasm}}", "m.wasm/x": ""}, `runner.wasm.module: "m.wasm" is not a regular file`},
		{"exec file missing", map[string]string{"docspell-addon.yaml": meta + "runner: {trivial: {enable: true, exec: gone.sh}}"}, `runner.trivial.exec: "gone.sh" does not exist`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeAddon(t, tt.files))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadPrefersJSONAndLeavesTheExecModeAlone(t *testing.T) {
	dir := writeAddon(t, map[string]string{
		"docspell-addon.json": `{"meta": {"name": "from-json", "version": "1"}, "runner": {"trivial": {"enable": true, "exec": "run.sh"}}}`,
		"docspell-addon.yaml": "meta: {name: from-yaml, version: '1'}",
		"run.sh":              "#!/bin/sh\n",
	})
	a, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.Meta.Name != "from-json" {
		t.Errorf("loaded %s, want the .json descriptor first", a.Meta.Name)
	}
	fi, err := os.Stat(filepath.Join(dir, "run.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("exec file mode = %v after Load, want 0644 unchanged (Load must not change the source; the executor makes its copy executable)", fi.Mode())
	}
}

func TestScaffoldMakesALoadableAddon(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	if err := Scaffold(dir, "my-addon"); err != nil {
		t.Fatal(err)
	}
	a, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.Meta.Name != "my-addon" || !slices.Equal(a.Runners(), []string{RunnerTrivial}) || !a.Pure() {
		t.Errorf("scaffolded addon = %+v runners %v", a.Meta, a.Runners())
	}
	if err := Scaffold(dir, "my-addon"); err == nil {
		t.Error("scaffolding over an existing directory succeeded")
	}
}

func TestLoadRefusesAWasmModuleSymlinkLeadingOutsideTheAddon(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "host.wasm")
	if err := os.WriteFile(outside, []byte("\x00asm"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := writeAddon(t, map[string]string{
		"docspell-addon.yaml": "meta: {name: escape, version: '1'}\nrunner:\n  wasm:\n    module: m.wasm\n",
	})
	if err := os.Symlink(outside, filepath.Join(dir, "m.wasm")); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir)
	var de *DescriptorError
	if !errors.As(err, &de) || de.Field != "runner.wasm.module" || de.Line != 4 || !strings.Contains(de.Reason, "outside") {
		t.Errorf("err = %v, want a DescriptorError on runner.wasm.module, line 4, saying it leads outside", err)
	}
}

func TestLoadRefusesAnExecSymlinkLeadingOutsideTheAddon(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "host-script")
	if err := os.WriteFile(outside, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := writeAddon(t, map[string]string{
		"docspell-addon.yaml": "meta: {name: escape, version: '1'}\nrunner: {trivial: {enable: true, exec: run.sh}}\n",
	})
	if err := os.Symlink(outside, filepath.Join(dir, "run.sh")); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir)
	var de *DescriptorError
	if !errors.As(err, &de) || de.Field != "runner.trivial.exec" || !strings.Contains(de.Reason, "outside") {
		t.Errorf("err = %v, want a DescriptorError on runner.trivial.exec saying it leads outside", err)
	}
	if fi, _ := os.Stat(outside); fi.Mode().Perm() != 0o644 {
		t.Errorf("loading the addon changed the mode of a file outside it to %v", fi.Mode().Perm())
	}
}
