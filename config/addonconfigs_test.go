package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Docspell's joex shape (reference.conf:866-885) and meaning
// (AddonConfig.scala:20-49; AddonConfigTest.scala's cases): value wins
// over value-from; an unset value-from variable is left out when
// optional (the default) and passed empty when optional = false; a
// disabled configuration gives nothing.
func TestAddonsConfigsTakeDocspellsJoexShapeAndMeaning(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "berth.yaml")
	os.WriteFile(file, []byte(`addons:
  configs:
    - name: postgres-addon
      enabled: true
      envs:
        - { name: PG_HOST, value: localhost }
        - { name: PG_PASS, value-from: { env: DS_PG_PASS, optional: true } }
        - { name: PG_OPT, value-from: { env: DS_UNSET } }
        - { name: PG_REQ, value-from: { env: DS_UNSET, optional: false } }
        - { name: MIXED, value: direct, value-from: { env: DS_PG_PASS, optional: false } }
        - { name: NOTHING }
    - name: off-addon
      enabled: false
      envs:
        - { name: X, value: y }
env:
  postgres-addon:
    PG_HOST: berth-wins
`), 0o644)
	cfg, _, err := Load(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"DS_PG_PASS": "s3cret"}[k]
		return v, ok
	}
	got, err := cfg.AddonEnv("postgres-addon", lookup)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"PG_HOST": "berth-wins", "PG_PASS": "s3cret", "PG_REQ": "", "MIXED": "direct"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("env (-want +got):\n%s", d)
	}
	if got, _ := cfg.AddonEnv("off-addon", lookup); len(got) != 0 {
		t.Errorf("a disabled configuration gave %v", got)
	}
}

func TestAddonsConfigsErrorsNameTheEntry(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"addons:\n  configs:\n    - envs: [{name: A, value: b}]\n", "addons.configs[0].name: missing"},
		{"addons:\n  configs:\n    - name: a\n      envs: [{name: 1A, value: b}]\n", `addons.configs[0].envs[0].name: "1A" is not a variable name`},
	} {
		file := filepath.Join(t.TempDir(), "berth.yaml")
		os.WriteFile(file, []byte(c.yaml), 0o644)
		if _, _, err := Load(file, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%q) = %v, want an error containing %q", c.yaml, err, c.want)
		}
	}
}
