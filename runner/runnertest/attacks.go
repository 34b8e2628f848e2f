package runnertest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/executor"
)

// The attacks below are issue 16's "the run directory is the addon's":
// an addon of a chain leaves something in WORK for berth (often root) to
// trip over when it prepares the next addon. Each is performed for real by
// the addon under the runner (and sandbox) being tested; a runner whose
// programs cannot make the links (wasm) runs them too and must hold as
// well. Each asserts on the host, where the harm would be.

const impureDescriptor = `meta:
  name: NAME
  version: "1.0"
options:
  networking: true
  collectOutput: true
`

// genuineScript is the second addon of each chain: it reports its input
// and that its own files are in ADDON_DIR.
const genuineScript = `cat arguments/user-input > "$OUTPUT_DIR/next-input"
[ -f "$ADDON_DIR/docspell-addon.yaml" ] && echo yes > "$OUTPUT_DIR/next-addon-dir"
echo genuine > "$OUTPUT_DIR/next-ran"
echo '{}'
`

func (h Harness) chain(t *testing.T, first, second string, secondImpure bool) (*executor.Result, string) {
	t.Helper()
	desc := descriptor("attack-next")
	if secondImpure {
		desc = strings.ReplaceAll(impureDescriptor, "NAME", "attack-next")
	}
	// A unique comment makes each addon's content, hence any image built
	// from it, this test's own.
	tag := "\n# " + token() + "\n"
	next := h.Package(t, desc, second+tag)
	first = strings.ReplaceAll(first, "NEXT_ID", next.ID())
	a := h.Package(t, descriptor("attack-first"), first+tag)
	out := filepath.Join(t.TempDir(), "out")
	res := h.run(t, h.executor(t), executor.Request{
		Steps:     []executor.Step{{Addon: a, UserInput: "first's input"}, {Addon: next, UserInput: "next's input"}},
		OutputDir: out,
	})
	return res, out
}

// requireGenuineNext checks that the chain succeeded and that the second
// addon ran its own code with its own input.
func requireGenuineNext(t *testing.T, res *executor.Result, out string) {
	t.Helper()
	if res.Kind != executor.Success {
		t.Fatalf("result %s: %s (stderr %q)", res.Kind, res.Error, res.StderrTail)
	}
	for name, want := range map[string]string{"next-ran": "genuine", "next-input": "next's input", "next-addon-dir": "yes"} {
		b, err := os.ReadFile(filepath.Join(out, name))
		if got := strings.TrimSpace(string(b)); err != nil || got != want {
			t.Errorf("the next addon's %s = %q (%v), want %q", name, got, err, want)
		}
	}
}

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("berth created %s in a host directory", filepath.Join(dir, e.Name()))
	}
}

// testAddonsLink: the first addon replaces WORK/addons with a link to a
// host directory; berth must not copy the next addon there (a next addon
// named systemd, version journald.service.d, would be a drop-in).
func (h Harness) testAddonsLink(t *testing.T) {
	host := t.TempDir()
	res, out := h.chain(t, `rm -rf addons; ln -s `+host+` addons; echo '{}'`, genuineScript, false)
	emptyDir(t, host)
	requireGenuineNext(t, res, out)
}

// testInjection: a pure first addon writes its own code into the next,
// impure addon's directory before berth copies it.
func (h Harness) testInjection(t *testing.T) {
	res, out := h.chain(t, `if [ -e "$OUTPUT_DIR/first-ran" ]; then echo hijacked > "$OUTPUT_DIR/hijacked"; echo '{}'; exit 0; fi
echo yes > "$OUTPUT_DIR/first-ran"
mkdir -p addons/NEXT_ID && cp -R "$ADDON_DIR/." addons/NEXT_ID/
echo '{}'
`, genuineScript, true)
	if b, err := os.ReadFile(filepath.Join(out, "hijacked")); err == nil {
		t.Errorf("the pure addon's code ran as the impure one: %q", b)
	}
	requireGenuineNext(t, res, out)
}

// testUserInputLink: the first addon replaces WORK/arguments/user-input
// with a link to a host file, or WORK/arguments with a link to a host
// directory; berth must not write the next addon's input through either.
func (h Harness) testUserInputLink(t *testing.T) {
	host := t.TempDir()
	victim := filepath.Join(host, "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, out := h.chain(t, `rm -f arguments/user-input; ln -s `+victim+` arguments/user-input; echo '{}'`, genuineScript, false)
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("berth wrote the next addon's input through the link: the host file now holds %q", b)
	}
	requireGenuineNext(t, res, out)

	dir := t.TempDir()
	res, out = h.chain(t, `rm -rf arguments; ln -s `+dir+` arguments; echo '{}'`, genuineScript, false)
	emptyDir(t, dir)
	requireGenuineNext(t, res, out)
}

func token() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// testSetID is issue 16's "setuid files": a pure addon (root of its
// user namespace, which is berth's user, root when berth is) leaves a
// set-user-id and a set-group-id copy of the shell in CACHE_DIR, which
// outlives the run, and in OUTPUT_DIR, which berth keeps. Outside the
// sandbox's nosuid mounts either would make any local user who reaches
// it berth's user. None may be left on the host.
func (h Harness) testSetID(t *testing.T) {
	a := h.Package(t, descriptor("setid"), `sh=$(command -v sh)
for d in "$CACHE_DIR" "$OUTPUT_DIR" "$TMPDIR"; do
  cp "$sh" "$d/rootsh" && chmod 4755 "$d/rootsh"
  cp "$sh" "$d/groupsh" && chmod 2755 "$d/groupsh"
done
ls -l "$CACHE_DIR" >&2
echo '{}'
# `+token())
	ex := h.executor(t)
	out := filepath.Join(t.TempDir(), "out")
	res := h.run(t, ex, executor.Request{Steps: []executor.Step{{Addon: a}}, OutputDir: out})
	if res.Kind != executor.Success {
		t.Fatalf("result %s: %s (stderr %q)", res.Kind, res.Error, res.StderrTail)
	}
	t.Logf("warnings: %q", res.Warnings)
	for _, dir := range []string{ex.CacheRoot, out} {
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if fi.Mode().IsRegular() && fi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 {
				t.Errorf("a set-id program was left on the host: %s (%v)", p, fi.Mode())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
