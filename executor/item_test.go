package executor_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-dev/berth/executor"
)

// attached mirrors Docspell's AttachedFile JSON
// (modules/store/src/main/scala/docspell/store/queries/AttachedFile.scala:17-25).
type attached struct {
	ID       string  `json:"id"`
	Name     *string `json:"name"`
	Position int     `json:"position"`
	Language *string `json:"language"`
	Mimetype string  `json:"mimetype"`
	Length   int64   `json:"length"`
	Checksum string  `json:"checksum"`
}

// runCopyItem runs an addon that copies item/ into OUTPUT_DIR and returns
// that copy's path.
func runCopyItem(t *testing.T, it *executor.Item) (string, *executor.Result, error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	res, err := newExecutor(t).Run(context.Background(), executor.Request{Steps: steps(t, "copy-item"), Item: it, OutputDir: out})
	return filepath.Join(out, "item"), res, err
}

func readList(t *testing.T, file string) []attached {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var l []attached
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return l
}

func sum(t *testing.T, file string) (string, int64) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(s[:]), int64(len(b))
}

func ptr(s string) *string { return &s }

// GenericItemAddonTask.scala:107-128 writes pdfs/<attachment id> and
// originals/<attachment id> and the AttachedFile lists; writing.md:110-115
// tells authors to open ITEM_PDF_DIR/{id}.
func TestItemFilesAreLaidOutUnderTheirAttachmentIDsAsJoexDoes(t *testing.T) {
	td, _ := filepath.Abs(filepath.Join("testdata", "item"))
	it := &executor.Item{
		Data: []byte(`{"id":"item1"}`),
		Pdfs: []executor.ItemFile{
			{ID: "5ZNtxrYJ5Ne-Bi2nGS2aJhh", Name: "Scan 1.pdf", Path: filepath.Join(td, "scan.pdf"), Language: "deu"},
			{ID: "audioAtt", Path: filepath.Join(td, "voice"), Mimetype: "application/pdf"},
		},
		Originals: []executor.ItemFile{
			{ID: "5ZNtxrYJ5Ne-Bi2nGS2aJhh", Name: "Scan 1.png", Path: filepath.Join(td, "scan-no-extension"), Language: "deu"},
			{ID: "audioAtt", Name: "voice.ogg", Path: filepath.Join(td, "voice")},
		},
	}
	dir, res, err := runCopyItem(t, it)
	if err != nil || res.Kind != executor.Success {
		t.Fatalf("run: %v %+v", err, res)
	}
	pdfSum, pdfLen := sum(t, filepath.Join(td, "scan.pdf"))
	pngSum, pngLen := sum(t, filepath.Join(td, "scan-no-extension"))
	oggSum, oggLen := sum(t, filepath.Join(td, "voice"))
	wantPdfs := []attached{
		{ID: "5ZNtxrYJ5Ne-Bi2nGS2aJhh", Name: ptr("Scan 1.pdf"), Position: 0, Language: ptr("deu"), Mimetype: "application/pdf", Length: pdfLen, Checksum: pdfSum},
		// A mimetype the host gives wins over the content.
		{ID: "audioAtt", Name: ptr("voice"), Position: 1, Mimetype: "application/pdf", Length: oggLen, Checksum: oggSum},
	}
	wantOriginals := []attached{
		// Detected from the content: the file has no extension.
		{ID: "5ZNtxrYJ5Ne-Bi2nGS2aJhh", Name: ptr("Scan 1.png"), Position: 0, Language: ptr("deu"), Mimetype: "image/png", Length: pngLen, Checksum: pngSum},
		// audio-files-addon selects originals whose mimetype starts with
		// "audio/" (src/addon.scm:100-105).
		{ID: "audioAtt", Name: ptr("voice.ogg"), Position: 1, Mimetype: "audio/ogg", Length: oggLen, Checksum: oggSum},
	}
	if d := cmp.Diff(wantPdfs, readList(t, filepath.Join(dir, "pdf-files.json"))); d != "" {
		t.Errorf("pdf-files.json (-want +got):\n%s", d)
	}
	if d := cmp.Diff(wantOriginals, readList(t, filepath.Join(dir, "source-files.json"))); d != "" {
		t.Errorf("source-files.json (-want +got):\n%s", d)
	}
	// swiss-qr-addon opens ITEM_ORIGINAL_DIR/<id> and ITEM_PDF_DIR/<id> for
	// each entry of pdf-files.json (modules/addon/.../Main.scala:49).
	for _, f := range []struct{ rel, src string }{
		{"pdfs/5ZNtxrYJ5Ne-Bi2nGS2aJhh", "scan.pdf"},
		{"originals/5ZNtxrYJ5Ne-Bi2nGS2aJhh", "scan-no-extension"},
		{"pdfs/audioAtt", "voice"},
		{"originals/audioAtt", "voice"},
	} {
		got, err := os.ReadFile(filepath.Join(dir, f.rel))
		want, _ := os.ReadFile(filepath.Join(td, f.src))
		if err != nil || string(got) != string(want) {
			t.Errorf("item/%s: %v, not a copy of %s", f.rel, err, f.src)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "pdfs"))
	if len(entries) != 2 {
		t.Errorf("item/pdfs holds %d files, want exactly the 2 attachments", len(entries))
	}
}

func TestItemDirectoriesGetIDsDerivedFromTheNamesSoAPdfAndItsOriginalPair(t *testing.T) {
	pdfs, originals := t.TempDir(), t.TempDir()
	td := filepath.Join("testdata", "item")
	cp := func(src, dst string) {
		b, err := os.ReadFile(filepath.Join(td, src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cp("scan.pdf", filepath.Join(pdfs, "Scan 1.pdf"))
	cp("scan-no-extension", filepath.Join(originals, "Scan 1.png"))
	cp("Notes 1.txt", filepath.Join(originals, "Notes 1.txt"))
	cp("Notes 1.txt", filepath.Join(originals, "Notes 1.md"))
	dir, res, err := runCopyItem(t, &executor.Item{PdfsDir: pdfs, OriginalsDir: originals})
	if err != nil || res.Kind != executor.Success {
		t.Fatalf("run: %v %+v", err, res)
	}
	var ids, names, types []string
	for _, f := range readList(t, filepath.Join(dir, "source-files.json")) {
		ids, names, types = append(ids, f.ID), append(names, *f.Name), append(types, f.Mimetype)
	}
	if d := cmp.Diff([]string{"Notes_1", "Notes_1-2", "Scan_1"}, ids); d != "" {
		t.Errorf("derived ids (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"Notes 1.md", "Notes 1.txt", "Scan 1.png"}, names); d != "" {
		t.Errorf("names (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{`text/plain; charset="UTF-8"`, `text/plain; charset="UTF-8"`, "image/png"}, types); d != "" {
		t.Errorf("mimetypes (-want +got):\n%s", d)
	}
	pdf := readList(t, filepath.Join(dir, "pdf-files.json"))
	if len(pdf) != 1 || pdf[0].ID != "Scan_1" {
		t.Errorf("pdf-files.json = %+v, want the one PDF with the id of its original, Scan_1", pdf)
	}
	if _, err := os.Stat(filepath.Join(dir, "originals", "Scan_1")); err != nil {
		t.Errorf("the original is not at originals/<id>: %v", err)
	}
}

func TestDeriveItemID(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"scan.pdf", "scan"},
		{"Scan 1.pdf", "Scan_1"},
		{"rechnung-2024_03.v2.pdf", "rechnung-2024_03.v2"},
		{"Übersicht.pdf", "_bersicht"},
		{"noext", "noext"},
		{".pdf", "attachment"},
		{"äöü.pdf", "attachment"},
		{"..hidden..pdf", "hidden"},
	} {
		if got := executor.DeriveItemID(c.name); got != c.want {
			t.Errorf("DeriveItemID(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestBadItemFilesAreRefusedNamingTheEntryAndNothingRuns(t *testing.T) {
	td, _ := filepath.Abs(filepath.Join("testdata", "item"))
	pdf := filepath.Join(td, "scan.pdf")
	for _, c := range []struct {
		name string
		item executor.Item
		want string
	}{
		{"an id with a slash", executor.Item{Pdfs: []executor.ItemFile{{ID: "../x", Path: pdf}}}, `item pdfs[0].id: "../x" is not a Docspell id`},
		{"the same id twice", executor.Item{Originals: []executor.ItemFile{{ID: "a", Path: pdf}, {ID: "a", Path: pdf}}}, `item originals[1].id: "a" is given twice`},
		{"a language that is no ISO 639-3 code", executor.Item{Pdfs: []executor.ItemFile{{Path: pdf, Language: "German"}}}, `item pdfs[0].language: "German" is not an ISO 639-3 code`},
		{"a mimetype that is no media type", executor.Item{Pdfs: []executor.ItemFile{{Path: pdf, Mimetype: "pdf"}}}, `item pdfs[0].mimetype: "pdf" is not a media type`},
		{"a name that is a path", executor.Item{Pdfs: []executor.ItemFile{{Path: pdf, Name: "a/b.pdf"}}}, `item pdfs[0].name: "a/b.pdf" must be a file name`},
		{"a missing file", executor.Item{Pdfs: []executor.ItemFile{{Path: pdf}, {Path: filepath.Join(td, "gone.pdf")}}}, `item pdfs[1].file: open `},
		{"a directory", executor.Item{Pdfs: []executor.ItemFile{{Path: td}}}, `item pdfs[0].file: ` + td + ` is not a regular file`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, res, err := runCopyItem(t, &c.item)
			if err == nil || !errors.Is(err, executor.ErrBadRequest) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v (result %+v), want ErrBadRequest containing %q", err, res, c.want)
			}
		})
	}
}

func TestItemManifestResolvesFilesNextToItAndRefusesUnknownKeys(t *testing.T) {
	td, _ := filepath.Abs(filepath.Join("testdata", "item"))
	dir := t.TempDir()
	good := filepath.Join(dir, "attachments.json")
	os.WriteFile(filepath.Join(dir, "scan.pdf"), []byte("%PDF-1.4\n"), 0o644)
	os.WriteFile(good, []byte(`{"pdfs": [{"id": "a1", "name": "Scan 1.pdf", "file": "scan.pdf", "language": "deu"}],
		"originals": [{"id": "a1", "file": "`+filepath.Join(td, "scan-no-extension")+`"}]}`), 0o644)
	m, err := executor.LoadItemManifest(good)
	if err != nil {
		t.Fatal(err)
	}
	want := executor.ItemManifest{
		Pdfs:      []executor.ItemFile{{ID: "a1", Name: "Scan 1.pdf", Path: filepath.Join(dir, "scan.pdf"), Language: "deu"}},
		Originals: []executor.ItemFile{{ID: "a1", Path: filepath.Join(td, "scan-no-extension")}},
	}
	if d := cmp.Diff(want, m); d != "" {
		t.Errorf("manifest (-want +got):\n%s", d)
	}
	for _, c := range []struct{ body, want string }{
		{`{"pdfs": [{"file": "a", "languge": "deu"}]}`, `bad.json: (document): json: unknown field "languge"`},
		{`{"originals": [{"id": "x"}]}`, `bad.json: originals[0].file: missing`},
		{`{"pdfs": [{"file": "a", "id": "a b"}]}`, `bad.json: pdfs[0].id: "a b" is not a Docspell id`},
	} {
		bad := filepath.Join(dir, "bad.json")
		os.WriteFile(bad, []byte(c.body), 0o644)
		if _, err := executor.LoadItemManifest(bad); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("LoadItemManifest(%s) = %v, want an error containing %q", c.body, err, c.want)
		}
	}
}

func TestParseItemFileFlag(t *testing.T) {
	for _, c := range []struct {
		in   string
		want executor.ItemFile
	}{
		{"scan.pdf", executor.ItemFile{Path: "scan.pdf"}},
		{"a1=scan.pdf", executor.ItemFile{ID: "a1", Path: "scan.pdf"}},
		{"a1=dir/x=y.pdf", executor.ItemFile{ID: "a1", Path: "dir/x=y.pdf"}},
		{"./a=b.pdf", executor.ItemFile{Path: "./a=b.pdf"}},
		{"a b=c.pdf", executor.ItemFile{Path: "a b=c.pdf"}},
		{"a1=", executor.ItemFile{Path: "a1="}},
	} {
		if got := executor.ParseItemFileFlag(c.in); got != c.want {
			t.Errorf("ParseItemFileFlag(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}
