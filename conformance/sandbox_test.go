package conformance_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth"
	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/config"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/sandbox/builtin"
)

// TestMain lets the test binary be the builtin sandbox's init.
func TestMain(m *testing.M) {
	if builtin.IsInit() {
		builtin.Init()
	}
	flag.Parse()
	os.Exit(m.Run())
}

// defaultExecutor is berth as configured out of the box (the default
// sandbox, "auto": the builtin one where the kernel allows it), with its
// directories in the test's temp dir and only the given runners.
func defaultExecutor(t *testing.T, runners ...string) *executor.Executor {
	t.Helper()
	cfg := config.Default()
	cfg.WorkingDir = filepath.Join(t.TempDir(), "work")
	cfg.CacheDir = filepath.Join(t.TempDir(), "cache")
	cfg.Runners = runners
	return newExecutor(t, cfg)
}

func newExecutor(t *testing.T, cfg config.Config) *executor.Executor {
	t.Helper()
	if err := cfg.Validate("test"); err != nil {
		t.Fatal(err)
	}
	return berth.NewExecutor(context.Background(), cfg, berth.Options{})
}

func load(t *testing.T, name string) *addon.Addon {
	t.Helper()
	a, err := addon.Load(filepath.Join("testdata", "addons", name))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tagsOf returns the tags of the output's add-tags actions.
func tagsOf(t *testing.T, res *executor.Result) []string {
	t.Helper()
	b, _ := json.Marshal(res.Output)
	var out struct {
		Commands []struct {
			Actions []struct{ Tags []string } `json:"actions"`
		} `json:"commands"`
	}
	json.Unmarshal(b, &out)
	var tags []string
	for _, c := range out.Commands {
		for _, a := range c.Actions {
			tags = append(tags, a.Tags...)
		}
	}
	return tags
}

func requireBuiltinSandbox(t *testing.T, ex *executor.Executor) {
	t.Helper()
	if ex.UnisolatedWarning != "" {
		// CI runs as root, where the builtin sandbox always works.
		t.Fatalf("the default sandbox is not usable here: %s", ex.UnisolatedWarning)
	}
}

func run(t *testing.T, ex *executor.Executor, req executor.Request) *executor.Result {
	t.Helper()
	res, err := ex.Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != executor.Success {
		t.Fatalf("result %s: %s\nstderr: %s", res.Kind, res.Error, strings.Join(res.StderrTail, "\n"))
	}
	if !res.Isolated {
		t.Errorf("a pure addon ran unisolated in the default sandbox")
	}
	return res
}

// Issue 11 item 3: "Under the default builtin sandbox a JVM addon dies
// with java.lang.InternalError: Error loading java.security file".
// Docspell runs trivial addons on the host
// (modules/addonlib/src/main/scala/docspell/addons/runner/TrivialRunner.scala),
// where the JVM finds /etc/java-17-openjdk; berth's default sandbox must
// show it, and a writable user.home.
func TestAJVMAddonRunsInTheDefaultSandbox(t *testing.T) {
	if _, err := exec.LookPath("java"); err != nil {
		t.Skip("java is not installed (.ci/sandbox-setup.sh installs default-jdk-headless)")
	}
	ex := defaultExecutor(t, "trivial")
	requireBuiltinSandbox(t, ex)
	res := run(t, ex, executor.Request{Steps: []executor.Step{{Addon: load(t, "jvm"), UserInput: "from-the-user"}}})
	tags := tagsOf(t, res)
	if len(tags) != 2 || !strings.HasPrefix(tags[0], "java-") || tags[1] != "from-the-user" {
		t.Errorf("tags = %q, want java-<sha> and the user input", tags)
	}
}

// writing.md:110-115 (look the id up in ITEM_PDF_JSON, open
// ITEM_PDF_DIR/{id}) and audio-files-addon's selection by mimetype
// (src/addon.scm:100-105), by a Python addon in the default sandbox.
func TestAPythonAddonFindsItemFilesByIDAndMimetypeInTheDefaultSandbox(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed (.ci/sandbox-setup.sh installs it)")
	}
	ex := defaultExecutor(t, "trivial")
	requireBuiltinSandbox(t, ex)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "scan"), []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"), 0o644)
	ogg, err := os.ReadFile(filepath.Join("..", "executor", "testdata", "item", "voice"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "memo"), ogg, 0o644)
	it := &executor.Item{
		Data:      []byte(`{"id":"item7"}`),
		Pdfs:      []executor.ItemFile{{ID: "a1", Name: "Scan.pdf", Path: filepath.Join(dir, "scan")}},
		Originals: []executor.ItemFile{{ID: "a1", Name: "Scan.pdf", Path: filepath.Join(dir, "scan")}, {ID: "a2", Name: "memo", Path: filepath.Join(dir, "memo")}},
	}
	res := run(t, ex, executor.Request{Steps: []executor.Step{{Addon: load(t, "python")}}, Item: it})
	if got, want := tagsOf(t, res), []string{"pdf-a1", "audio-a2"}; !slices.Equal(got, want) {
		t.Errorf("tags = %q, want %q", got, want)
	}
}

func TestAShellAddonHasHomeUserAndCertificatesButNoHostSecretsInTheDefaultSandbox(t *testing.T) {
	ex := defaultExecutor(t, "trivial")
	requireBuiltinSandbox(t, ex)
	res := run(t, ex, executor.Request{Steps: []executor.Step{{Addon: load(t, "shell")}}})
	want := []string{"home-ok", "user-root-root", "certs-ok", "secrets-hidden"}
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err != nil {
		want[2] = "certs-missing"
	}
	if got := tagsOf(t, res); !slices.Equal(got, want) {
		t.Errorf("tags = %q, want %q", got, want)
	}
}

// Issue 11 item 5: Docspell runs the first file of result/bin
// (NixFlakeRunner.scala:44, 82-103), which under nixpkgs' makeWrapper
// can be the hidden bin/.x-wrapped, skipping the wrapper's environment;
// berth runs what nix run would (here pname: bin/wrapped-addon).
func TestAMakeWrapperFlakeRunsItsWrapper(t *testing.T) {
	ex, stderr := publishedExecutor(t, nixWay)
	res := runPublished(t, ex, stderr, executor.Request{Steps: []executor.Step{{Addon: load(t, "wrapped")}}})
	if got := tagsOf(t, res); !slices.Equal(got, []string{"the-wrapper"}) {
		t.Errorf("tags = %q, want the wrapper's environment", got)
	}
}

// Issue 11 item 6: Docspell's docker run passes no --user and no
// read-only root (DockerRunner.scala:51-62), so an image runs as its own
// USER and writes its HOME; so it does on berth's defaults.
func TestAnImageWithUSERWritesItsHome(t *testing.T) {
	ex, stderr := publishedExecutor(t, dockerWay)
	res := runPublished(t, ex, stderr, executor.Request{Steps: []executor.Step{{Addon: load(t, "appuser")}}})
	if got, want := tagsOf(t, res), []string{"appuser", "home-ok", "tmpdir-ok", "output-ok"}; !slices.Equal(got, want) {
		t.Errorf("tags = %q, want %q", got, want)
	}
}

// Docspell would run bin/.wrapped-addon-wrapped, the first file of
// result/bin (NixFlakeRunner.scala:44, 82-103); berth runs the wrapper
// and says so in the run's warnings.
func TestAMakeWrapperFlakeSaysWhatDocspellWouldRun(t *testing.T) {
	ex, stderr := publishedExecutor(t, nixWay)
	res := runPublished(t, ex, stderr, executor.Request{Steps: []executor.Step{{Addon: load(t, "wrapped")}}})
	if w := strings.Join(res.Warnings, "\n"); !strings.Contains(w, "wrapped-addon-1.0: nix-flake runs bin/wrapped-addon, what nix run would; Docspell would run bin/.wrapped-addon-wrapped") {
		t.Errorf("warnings %q", res.Warnings)
	}
}
