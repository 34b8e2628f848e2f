package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/config"
	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/engine/enginetest"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/output"
)

// The four published addons of issue 11, each as a stand-in in
// testdata/published that does with berth's environment and files what
// the addon's own code does (each file cites the lines), run on every
// runner its descriptor enables. The real addons were run by hand on
// 2026-12-02 (docs/addon-contract.md, "Published addons on berth"); these
// tests keep what they depend on from regressing.

// way is one way of running an addon: a runner and, for process-based
// runners, a sandbox.
type way struct {
	name    string
	runner  string
	sandbox string
}

var (
	trivialDefault = way{"trivial in the default sandbox", "trivial", "auto"}
	trivialHost    = way{"trivial without a sandbox (as Docspell runs it)", "trivial", "none"}
	trivialNspawn  = way{"trivial in nspawn (as Docspell's nspawn option)", "trivial", "nspawn"}
	dockerWay      = way{"docker", "docker", "auto"}
	nixWay         = way{"nix-flake", "nix-flake", "auto"}
)

// publishedExecutor is berth's default configuration with only w's
// runner, offline nix (the test machine has no binary cache) and the
// addon's stderr in the returned buffer.
func publishedExecutor(t *testing.T, w way, edit ...func(*config.Config)) (*executor.Executor, *syncBuffer) {
	t.Helper()
	switch w.runner {
	case "docker":
		enginetest.BusyboxImage(t, enginetest.RequireDocker(t))
	case "nix-flake":
		if _, err := exec.LookPath("nix"); err != nil {
			t.Skip("nix is not installed (CI installs nix-bin)")
		}
	}
	if w.sandbox == "nspawn" {
		if _, err := exec.LookPath("systemd-nspawn"); err != nil {
			t.Skip("systemd-nspawn is not installed (CI installs systemd-container)")
		}
		if os.Geteuid() != 0 {
			t.Skip("nspawn runs need root (the non-root CI pass skips them as sandbox/nspawn does)")
		}
	}
	cfg := config.Default()
	cfg.WorkingDir = filepath.Join(t.TempDir(), "work")
	cfg.CacheDir = filepath.Join(t.TempDir(), "cache")
	cfg.Runners = []string{w.runner}
	cfg.Sandbox = w.sandbox
	cfg.Nix.ExtraFlags = []string{"--option", "substituters", ""}
	for _, e := range edit {
		e(&cfg)
	}
	ex := newExecutor(t, cfg)
	if w.sandbox == "auto" && w.runner != "docker" {
		requireBuiltinSandbox(t, ex)
	}
	stderr := &syncBuffer{}
	ex.Stderr = stderr
	return ex, stderr
}

// syncBuffer collects stderr written from the executor's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// buildImage builds testdata's Dockerfile as ref, the image a published
// descriptor names (no registry is reachable here).
func buildImage(t *testing.T, ref, dockerfile, contextDir string) {
	t.Helper()
	c := enginetest.RequireDocker(t)
	enginetest.BusyboxImage(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := c.Run(ctx, []string{"build", "-q", "-t", ref, "-f", dockerfile, contextDir}, engine.RunOpts{}); err != nil {
		t.Fatalf("building %s: %v", ref, err)
	}
}

func runPublished(t *testing.T, ex *executor.Executor, stderr *syncBuffer, req executor.Request) *executor.Result {
	t.Helper()
	res, err := ex.Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != executor.Success {
		t.Fatalf("result %s: %s\nstderr:\n%s", res.Kind, res.Error, stderr)
	}
	return res
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// docspell/rotate-pdf-addon: src/addon.scm:84-91 opens ITEM_PDF_DIR/<the
// attachment id of ITEM_DATA_JSON> and writes OUTPUT_DIR/<id>.pdf and
// <id>.txt; the published descriptor enables nix, docker and trivial.
func TestRotatePdfAddonRotatesEachAttachmentByItsIDOnEveryRunner(t *testing.T) {
	a := load(t, filepath.Join("..", "published", "rotate-pdf-addon"))
	for _, w := range []way{trivialDefault, trivialHost, trivialNspawn, dockerWay, nixWay} {
		t.Run(w.name, func(t *testing.T) {
			ex, stderr := publishedExecutor(t, w)
			in := t.TempDir()
			pdf := writeFile(t, in, "upload", "%PDF-1.5\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
			out := filepath.Join(t.TempDir(), "out")
			res := runPublished(t, ex, stderr, executor.Request{
				Steps: []executor.Step{{Addon: a, UserInput: `{ "degree": "90" }`}},
				Item: &executor.Item{
					Data: []byte(`{"id":"qZDnyGIAJsXr","attachments":[{"id":"BXLaDza97A","name":"my-file.converted.pdf","position":0,"language":"deu","pages":2}]}`),
					Pdfs: []executor.ItemFile{{ID: "BXLaDza97A", Name: "my-file.converted.pdf", Path: pdf, Language: "deu"}},
				},
				OutputDir: out,
			})
			want := []output.ItemFile{{ItemID: "qZDnyGIAJsXr", TextFiles: map[string]string{"BXLaDza97A": "BXLaDza97A.txt"}, PDFFiles: map[string]string{"BXLaDza97A": "BXLaDza97A.pdf"}}}
			if res.Output == nil || !filesEqual(res.Output.Files, want) {
				t.Errorf("output %+v, want files %+v", res.Output, want)
			}
			rotated, _ := os.ReadFile(filepath.Join(out, "BXLaDza97A.pdf"))
			if !bytes.HasPrefix(rotated, []byte("%PDF-1.5")) || !strings.HasSuffix(string(rotated), "% rotated 90\n") {
				t.Errorf("OUTPUT_DIR/BXLaDza97A.pdf = %q: not the attachment rotated by the user input's degree", rotated)
			}
			if txt, _ := os.ReadFile(filepath.Join(out, "BXLaDza97A.txt")); string(txt) != "text of BXLaDza97A, rotated by 90\n" {
				t.Errorf("OUTPUT_DIR/BXLaDza97A.txt = %q", txt)
			}
		})
	}
}

func filesEqual(got, want []output.ItemFile) bool {
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	return bytes.Equal(g, w)
}

// docspell/audio-files-addon: src/addon.scm:100-106 picks the originals
// whose mimetype starts with audio/ (the host gives none: berth detects
// it from the content of a file without extension), :122-127 keeps its
// model in CACHE_DIR; the published descriptor enables nix and trivial
// (docker: false) and networking.
func TestAudioFilesAddonFindsAudioByItsDetectedMimetypeOnEveryRunner(t *testing.T) {
	a := load(t, filepath.Join("..", "published", "audio-files-addon"))
	if a.Pure() {
		t.Fatal("the stand-in is pure; the published addon is not (networking: true)")
	}
	if got := a.Runners(); !slices.Equal(got, []string{"nix-flake", "trivial"}) {
		t.Fatalf("runners %v, want the published descriptor's nix-flake and trivial", got)
	}
	ogg, err := os.ReadFile(filepath.Join("..", "executor", "testdata", "item", "voice"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []way{trivialDefault, trivialHost, trivialNspawn, nixWay} {
		t.Run(w.name, func(t *testing.T) {
			ex, stderr := publishedExecutor(t, w)
			in := t.TempDir()
			voice := writeFile(t, in, "HPFvIDib6eA", string(ogg))
			png := writeFile(t, in, "TDvuTFjpf2Y", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
			item := &executor.Item{
				Data: []byte(`{"id":"qZDnyGIAJsXr"}`),
				Originals: []executor.ItemFile{
					{ID: "TDvuTFjpf2Y", Path: png, Language: "eng"},
					{ID: "HPFvIDib6eA", Path: voice, Language: "eng"},
				},
			}
			for run := 1; run <= 2; run++ {
				out := filepath.Join(t.TempDir(), "out")
				res := runPublished(t, ex, stderr, executor.Request{Steps: []executor.Step{{Addon: a}}, Item: item, OutputDir: out})
				want := []output.ItemFile{{ItemID: "qZDnyGIAJsXr", TextFiles: map[string]string{"HPFvIDib6eA": "HPFvIDib6eA.txt"}, PDFFiles: map[string]string{"HPFvIDib6eA": "HPFvIDib6eA.pdf"}}}
				if res.Output == nil || !filesEqual(res.Output.Files, want) {
					t.Fatalf("run %d: output %+v, want only the audio file's text and pdf %+v", run, res.Output, want)
				}
				txt, _ := os.ReadFile(filepath.Join(out, "HPFvIDib6eA.txt"))
				if !strings.Contains(string(txt), "bytes of audio/ogg read with model for eng") {
					t.Errorf("run %d: HPFvIDib6eA.txt = %q", run, txt)
				}
			}
			if n := strings.Count(stderr.String(), "Downloading model file"); n != 1 {
				t.Errorf("the model was downloaded %d times in two runs, want once (the second run finds it in CACHE_DIR)\nstderr:\n%s", n, stderr)
			}
		})
	}
}

// audio-files-addon reads a null language as a name (src/addon.scm:123,
// guile-json's null is a symbol) and fails: so does its stand-in, and a
// host must give berth each attachment's language, as joex always has
// one (QAttachment.scala:33-56 reads it from the attachment's meta data).
func TestAudioFilesAddonFailsWithoutALanguageAsTheRealOneDoes(t *testing.T) {
	a := load(t, filepath.Join("..", "published", "audio-files-addon"))
	ex, stderr := publishedExecutor(t, trivialHost)
	ogg, err := os.ReadFile(filepath.Join("..", "executor", "testdata", "item", "voice"))
	if err != nil {
		t.Fatal(err)
	}
	voice := writeFile(t, t.TempDir(), "HPFvIDib6eA", string(ogg))
	res, err := ex.Run(context.Background(), executor.Request{Steps: []executor.Step{{Addon: a}}, Item: &executor.Item{
		Data: []byte(`{"id":"qZDnyGIAJsXr"}`), Originals: []executor.ItemFile{{ID: "HPFvIDib6eA", Path: voice}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != executor.ExecutionError || !strings.Contains(stderr.String(), "expecting string): null") {
		t.Errorf("result %s, stderr %q: want the addon's own failure on a null language", res.Kind, stderr)
	}
}

// docspell/swiss-qr-addon: Main.scala:49 reads ITEM_ORIGINAL_DIR/<id> of
// each ITEM_PDF_JSON entry, else ITEM_PDF_DIR/<id>, choosing a reader by
// the entry's mimetype (Main.scala:113-127); its descriptor enables
// docker (a published image) and trivial.
func TestSwissQrAddonReadsOriginalsThenPdfsByIDOnEveryRunner(t *testing.T) {
	dir := filepath.Join("testdata", "published", "swiss-qr-addon")
	a := load(t, filepath.Join("..", "published", "swiss-qr-addon"))
	config := "add-tags:\n  - Invoice\n  - QR-Code\ncheck-tags:\n  - Invoice\n"
	for _, w := range []way{trivialDefault, trivialHost, trivialNspawn, dockerWay} {
		t.Run(w.name, func(t *testing.T) {
			if w.runner == "docker" {
				buildImage(t, a.Runner.Docker.Image, filepath.Join(dir, "image", "Dockerfile"), dir)
			}
			ex, stderr := publishedExecutor(t, w)
			in := t.TempDir()
			// a1: a scanned image whose QR code only the original shows;
			// a2: a PDF with no original (the host gave none); a3: an
			// original that is neither image nor PDF, so its PDF is read.
			scan := writeFile(t, in, "scan", "\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\nSPC\n0200\n")
			scanPdf := writeFile(t, in, "scan.pdf", "%PDF-1.4\nno qr here\n")
			bill := writeFile(t, in, "bill.pdf", "%PDF-1.4\nSPC\n0200\n1\n")
			note := writeFile(t, in, "note.txt", "SPC is mentioned in this text, which is no QR code\n")
			notePdf := writeFile(t, in, "note.pdf", "%PDF-1.4\nnothing\n")
			item := &executor.Item{
				Data: []byte(`{"id":"item1","name":"Rechnung","tags":[],"assumedTags":["Invoice"]}`),
				Pdfs: []executor.ItemFile{
					{ID: "a1", Name: "scan.pdf", Path: scanPdf},
					{ID: "a2", Name: "bill.pdf", Path: bill},
					{ID: "a3", Name: "note.pdf", Path: notePdf},
				},
				Originals: []executor.ItemFile{
					{ID: "a1", Name: "scan.jpg", Path: scan},
					{ID: "a3", Name: "note.txt", Path: note},
				},
			}
			res := runPublished(t, ex, stderr, executor.Request{Steps: []executor.Step{{Addon: a, UserInput: config}}, Item: item})
			b, _ := json.Marshal(res.Output)
			want := `{"commands":[{"command":"item-update","itemId":"item1","actions":[{"action":"add-notes","notes":"QR code in item/originals/a1\n\nQR code in item/pdfs/a2","separator":"----"},{"action":"add-tags","tags":["Invoice","QR-Code"]}]}]}`
			if string(b) != want {
				t.Errorf("output\n%s\nwant\n%s\nstderr:\n%s", b, want, stderr)
			}
		})
	}
}

// tiborrr/docspell-addon-example: a published image running as its own
// USER (uid 5678) reads every input Docspell provides and logs it; its
// test asserts the log (test/main_test.py:98-115), and so does this one.
func TestDocspellAddonExampleSeesEveryInputAsItsOwnUser(t *testing.T) {
	dir := filepath.Join("testdata", "published", "docspell-addon-example")
	a := load(t, filepath.Join("..", "published", "docspell-addon-example"))
	buildImage(t, a.Runner.Docker.Image, filepath.Join(dir, "image", "Dockerfile"), filepath.Join(dir, "image"))
	ex, stderr := publishedExecutor(t, dockerWay)
	in := t.TempDir()
	pdf := writeFile(t, in, "report.pdf", "%PDF-1.4\n")
	res := runPublished(t, ex, stderr, executor.Request{
		Steps: []executor.Step{{Addon: a, UserInput: `{"name": "John", "customField": "value"}`}},
		Item: &executor.Item{
			Data:      []byte(`{"id":"UyZ-item-id","name":"yearly report 2021","tags":["tag-1"],"assumedTags":["invoice"],"assumedCorrOrg":{"id":"yf7XiqWp","name":"Acme AG"},"assumedConcPerson":{"id":"7XLiAkeY","name":"Derek Jeter"}}`),
			Args:      []byte(`{"collective":1,"language":"eng","tags":["given-tag-1"]}`),
			Pdfs:      []executor.ItemFile{{ID: "2M8JwSdbE", Name: "report_year_2021.pdf", Path: pdf, Language: "eng"}},
			Originals: []executor.ItemFile{{ID: "2M8JwSdbE", Name: "report_year_2021.pdf", Path: pdf, Language: "eng"}},
		},
		Env: map[string]string{"DSC_SESSION": "test-session-token", "DSC_DOCSPELL_URL": "http://localhost:7880"},
	})
	if b, _ := json.Marshal(res.Output); string(b) != "{}" {
		t.Errorf("output %s, want {}", b)
	}
	log := stderr.String()
	for _, want := range []string{
		"User input file: arguments/user-input", "John", "running as: appuser",
		"ADDON_DIR: addons/docspell-addon-example-1.5.0", "TMP_DIR: temp", "OUTPUT_DIR: /mnt/output", "CACHE_DIR: /mnt/cache",
		"ITEM_DIR: item", "yearly report 2021", "tag-1", "invoice", "Acme AG", "Derek Jeter", "given-tag-1",
		`"id":"2M8JwSdbE","name":"report_year_2021.pdf"`, `"mimetype":"application/pdf"`,
		"ITEM_ORIGINAL_DIR: item/originals", "ITEM_PDF_DIR: item/pdfs",
		"DSC_DOCSPELL_URL: http://localhost:7880", "DSC_SESSION: ***",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the addon's log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "test-session-token") {
		t.Errorf("the session token is in the log")
	}
}

// joex stores the upload's language as each attachment's
// (TextExtraction.scala:37, 93; given-data.json is that upload meta
// data): an attachment the host gives no language gets the one of
// --item-args, and audio-files-addon finds its model by it.
func TestAudioFilesAddonTakesTheUploadsLanguage(t *testing.T) {
	a := load(t, filepath.Join("..", "published", "audio-files-addon"))
	ex, stderr := publishedExecutor(t, trivialHost)
	ogg, err := os.ReadFile(filepath.Join("..", "executor", "testdata", "item", "voice"))
	if err != nil {
		t.Fatal(err)
	}
	voice := writeFile(t, t.TempDir(), "HPFvIDib6eA", string(ogg))
	out := filepath.Join(t.TempDir(), "out")
	runPublished(t, ex, stderr, executor.Request{Steps: []executor.Step{{Addon: a}}, OutputDir: out, Item: &executor.Item{
		Data: []byte(`{"id":"qZDnyGIAJsXr"}`), Args: []byte(`{"language":"deu","tags":[]}`),
		Originals: []executor.ItemFile{{ID: "HPFvIDib6eA", Path: voice}},
	}})
	if txt, _ := os.ReadFile(filepath.Join(out, "HPFvIDib6eA.txt")); !strings.Contains(string(txt), "model for deu") {
		t.Errorf("HPFvIDib6eA.txt = %q, want the upload's language deu", txt)
	}
}

// control.md:84-116: per-addon variables in joex's addons.configs shape,
// tried with docspell-addon-example, which logs every DOCSPELL_TEST_*
// variable (main.py:112-116): a value, a required value-from and an
// optional one whose source is unset (left out).
func TestDocspellAddonExampleLogsTheVariablesOfItsAddonsConfig(t *testing.T) {
	dir := filepath.Join("testdata", "published", "docspell-addon-example")
	a := load(t, filepath.Join("..", "published", "docspell-addon-example"))
	buildImage(t, a.Runner.Docker.Image, filepath.Join(dir, "image", "Dockerfile"), filepath.Join(dir, "image"))
	t.Setenv("DS_BAZ_SRC", "baz-value")
	ex, stderr := publishedExecutor(t, dockerWay, func(c *config.Config) {
		foo := "foo-value"
		no := false
		c.Addons.Configs = []config.AddonConfig{{Name: "docspell-addon-example", Envs: []config.AddonEnvVar{
			{Name: "DOCSPELL_TEST_FOO", Value: &foo},
			{Name: "DOCSPELL_TEST_BAZ", ValueFrom: &config.AddonEnvFrom{Env: "DS_BAZ_SRC", Optional: &no}},
			{Name: "DOCSPELL_TEST_OPT", ValueFrom: &config.AddonEnvFrom{Env: "DS_UNSET_SOURCE_FOR_THIS_TEST"}},
		}}}
	})
	runPublished(t, ex, stderr, executor.Request{Steps: []executor.Step{{Addon: a}}, Item: &executor.Item{Data: []byte(`{"id":"i1"}`)}})
	log := stderr.String()
	if !strings.Contains(log, "DOCSPELL_TEST_BAZ=baz-value\n[docspell-addon-example] DOCSPELL_TEST_FOO=foo-value\n") || strings.Contains(log, "DOCSPELL_TEST_OPT") {
		t.Errorf("the addon logged:\n%s\nwant DOCSPELL_TEST_BAZ and _FOO, no _OPT", log)
	}
}
