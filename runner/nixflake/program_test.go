package nixflake_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/runner/nixflake"
)

// programFlake makes an addon from testdata/programs.nix.tmpl with the
// given build script, package attributes and apps.
func programFlake(t *testing.T, build, pkgAttrs, apps, script string) *addon.Addon {
	t.Helper()
	dir := t.TempDir()
	tmpl, err := os.ReadFile("testdata/programs.nix.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("testdata", build))
	if err != nil {
		t.Fatal(err)
	}
	flake := strings.NewReplacer("@NONCE@", nonce(), "@PKGATTRS@", pkgAttrs, "@APPS@", apps).Replace(string(tmpl))
	for name, content := range map[string]string{
		"docspell-addon.yaml": pureDescriptor + "runner:\n  nix:\n    enable: true\n",
		"flake.nix":           flake,
		"build.sh":            string(b),
		"run.sh":              "#!/bin/sh\n" + script,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, err := addon.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Docspell's NixFlakeRunner runs the first file of result/bin
// (modules/addonlib/src/main/scala/docspell/addons/runner/NixFlakeRunner.scala:44,82-103),
// which under nixpkgs' makeWrapper is the hidden bin/.x-wrapped: the
// wrapper's environment is lost. berth runs what `nix run` would.
func TestPrepareChoosesTheProgramAsNixRunDoes(t *testing.T) {
	requireNix(t)
	r := nixflake.New(offline(), nil)
	for _, c := range []struct {
		name, build, pkgAttrs, apps, want string
	}{
		{"a makeWrapper wrapper, never the hidden .run-wrapped", "build-wrapper.sh", "{ }", "{ }", "/bin/run"},
		{"meta.mainProgram over the first by name", "build-several.sh", `{ meta.mainProgram = "main"; }`, "{ }", "/bin/main"},
		{"the default app over meta.mainProgram", "build-several.sh", `{ meta.mainProgram = "main"; }`,
			`{ default = { type = "app"; program = "${self.packages.${system}.default}/bin/tool"; }; }`, "/bin/tool"},
		{"the first by name without either", "build-several.sh", "{ }", "{ }", "/bin/aaa-helper"},
		{"meta.mainProgram naming no file falls back to the first", "build-several.sh", `{ meta.mainProgram = "gone"; }`, "{ }", "/bin/aaa-helper"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := programFlake(t, c.build, c.pkgAttrs, c.apps, "echo '{}'\n")
			p, err := r.Prepare(context.Background(), a)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(p.Program, "/nix/store/") || !strings.HasSuffix(p.Program, c.want) {
				t.Errorf("program = %s, want /nix/store/…%s", p.Program, c.want)
			}
		})
	}
}

func TestAMakeWrapperAddonRunsWithTheWrappersEnvironment(t *testing.T) {
	requireNix(t)
	a := programFlake(t, "build-wrapper.sh", "{ }", "{ }", `echo "$BERTH_TEST_WRAPPED" > "$OUTPUT_DIR/wrapped"; echo '{}'`+"\n")
	ex := &executor.Executor{
		Runners:    map[string]runner.Runner{addon.RunnerNixFlake: nixflake.New(offline(), nil)},
		Preference: []string{addon.RunnerNixFlake},
		WorkRoot:   t.TempDir(), CacheRoot: t.TempDir(), Timeout: time.Minute,
		PathEnv: []string{"PATH=/usr/bin:/bin"},
	}
	out := filepath.Join(t.TempDir(), "out")
	res, err := ex.Run(context.Background(), executor.Request{Steps: []executor.Step{{Addon: a}}, OutputDir: out})
	if err != nil || res.Kind != executor.Success {
		t.Fatalf("run: %v %+v", err, res)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "wrapped")); strings.TrimSpace(string(b)) != "by-the-wrapper" {
		t.Errorf("BERTH_TEST_WRAPPED = %q: the wrapper did not run", b)
	}
}

func TestTheDefaultConfigurationUsesTheHostsNixSettings(t *testing.T) {
	for _, f := range nixflake.DefaultConfig().ExtraFlags {
		if f == "substituters" {
			t.Fatalf("DefaultConfig().ExtraFlags = %q: the default overrides the host's substituters", nixflake.DefaultConfig().ExtraFlags)
		}
	}
}
