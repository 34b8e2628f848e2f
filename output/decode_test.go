package output

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

// docsExample is what Docspell's documented example output
// (website/src/main/scala/docspell/website/AddonOutputExample.scala)
// decodes to.
var docsExample = Output{
	Commands: []Command{
		{Command: CommandItemUpdate, ItemID: "XabZ-item-id", Actions: []Action{
			{Action: ActionSetDate, Date: 1699697471000},
			{Action: ActionAddTags, Tags: []string{"tag1", "tag2"}},
			{Action: ActionReplaceTags, Tags: []string{"tagX", "tagY"}},
			{Action: ActionRemoveTags, Tags: []string{"tag0", "tag9"}},
			{Action: ActionRemoveTagsCategory, Categories: []string{"doc-type"}},
			{Action: ActionSetFolder, Folder: ptr("folder-name")},
			{Action: ActionSetCorrOrg, ID: ptr("OaIy-org-ID")},
			{Action: ActionSetCorrPerson, ID: ptr("OaIy-person-ID")},
			{Action: ActionSetConcPerson, ID: ptr("AEiae-person-ID")},
			{Action: ActionSetConcEquipment, ID: ptr("AEiae-equipment-ID")},
			{Action: ActionSetField, Field: "eur", Value: "12.99"},
			{Action: ActionSetName, Name: "new item name"},
			{Action: ActionSetNotes, Notes: ptr("replace notes with this")},
			{Action: ActionAddNotes, Notes: ptr("More notes appended"), Separator: ptr("-----")},
		}},
		{Command: CommandAttachmentUpdate, ItemID: "XabZ-item-id", AttachID: "Atca-attach-id", Actions: []Action{
			{Action: ActionSetExtractedText, Text: ptr("replace extracted text with this")},
		}},
	},
	Files: []ItemFile{{
		ItemID:        "iZtb-item-id",
		TextFiles:     map[string]string{"attach-id": "newtext.txt"},
		PDFFiles:      map[string]string{"attach-id": "better.pdf"},
		PreviewImages: map[string]string{"attach-id": "better-preview.png"},
		NewFiles: []NewFile{
			{Metadata: NewFileMeta{Language: "eng", SkipDuplicate: ptr(true), AttachmentsOnly: ptr(false)}, File: "new-file1.docx"},
			{Metadata: NewFileMeta{Language: "deu", SkipDuplicate: ptr(true), AttachmentsOnly: ptr(false)}, File: "new-file2.pdf"},
		},
	}},
	NewItems: []NewItem{{
		Metadata: &NewItemMeta{
			Language:      "eng",
			Direction:     "incoming",
			FolderID:      ptr("my-folder"),
			Source:        ptr("the-addon-x"),
			SkipDuplicate: ptr(true),
			Tags:          []string{"tag1", "tag2"},
			CustomData:    json.RawMessage(`{"my-id":42}`),
		},
		Files: []string{"a-file.pdf", "another.jpg"},
	}},
}

func TestDecodeAcceptsValidFixtures(t *testing.T) {
	tests := []struct {
		name string
		file string
		want Output
	}{
		{"the example from Docspell's documentation decodes to every field", "docspell-docs-example.json", docsExample},
		{"the minimal example from Docspell's documentation decodes", "docspell-mini-example.json", Output{
			Commands: []Command{{Command: CommandItemUpdate, ItemID: "XabZ-item-id", Actions: []Action{
				{Action: ActionAddTags, Tags: []string{"tag1", "tag2"}},
			}}},
		}},
		{"the files sample from Docspell's AddonOutputTest decodes", "docspell-addonlib-test-files.json", Output{
			Files: []ItemFile{{
				ItemID:    "qZDnyGIAJsXr",
				TextFiles: map[string]string{"HPFvIDib6eA": "HPFvIDib6eA.txt"},
				PDFFiles:  map[string]string{"HPFvIDib6eA": "HPFvIDib6eA.pdf"},
			}},
		}},
		{"an empty object is the empty output", "empty-object.json", Output{}},
		{"optional values may be null or missing and mean unset", "due-date-and-unsets.json", Output{
			Commands: []Command{
				{Command: CommandItemUpdate, ItemID: "item1", Actions: []Action{
					{Action: ActionSetDueDate, DueDate: ptr(int64(1700000000000))},
					{Action: ActionSetDueDate},
					{Action: ActionSetDueDate},
					{Action: ActionSetFolder},
					{Action: ActionSetCorrOrg},
					{Action: ActionSetCorrPerson},
					{Action: ActionSetConcPerson},
					{Action: ActionSetConcEquipment},
					{Action: ActionSetNotes},
					{Action: ActionAddNotes, Notes: ptr("appended")},
					{Action: ActionSetName, Name: ""},
					{Action: ActionSetDate, Date: -1000},
				}},
				{Command: CommandAttachmentUpdate, ItemID: "item1", AttachID: "att1", Actions: []Action{
					{Action: ActionSetExtractedText},
				}},
				{Command: CommandItemUpdate, ItemID: "item2"},
			},
		}},
		{"unknown keys are ignored everywhere", "unknown-keys-ignored.json", Output{
			Commands: []Command{{Command: CommandItemUpdate, ItemID: "x@y.z_1-2", Actions: []Action{
				{Action: ActionAddTags, Tags: []string{"a"}},
			}}},
			Files: []ItemFile{{ItemID: "item", NewFiles: []NewFile{
				{File: "f.pdf", Metadata: NewFileMeta{Language: "English"}},
			}}},
			NewItems: []NewItem{{Metadata: &NewItemMeta{Direction: "Outgoing", Language: "DE"}}},
		}},
		{"dates take every form circe's Long decoder takes", "circe-number-forms.json", Output{
			Commands: []Command{{Command: CommandItemUpdate, ItemID: "i", Actions: []Action{
				{Action: ActionSetDate, Date: 1699697471000},
				{Action: ActionSetDate, Date: 1699697471000},
				{Action: ActionSetDate, Date: 1699697471000},
				{Action: ActionSetDueDate, DueDate: ptr(int64(-5))},
				{Action: ActionSetDate, Date: 0},
			}}},
		}},
		{"null takes the default where Docspell has one", "nulls-take-defaults.json", Output{
			Files:    []ItemFile{{ItemID: "item", NewFiles: []NewFile{{File: "a.pdf"}}}},
			NewItems: []NewItem{{Files: []string{"a.pdf"}}},
		}},
		{"empty ids are accepted, as Docspell's Ident accepts them", "empty-ids-as-docspell.json", Output{
			Commands: []Command{{Command: CommandAttachmentUpdate, Actions: []Action{
				{Action: ActionSetExtractedText, Text: ptr("")},
			}}},
			Files: []ItemFile{{}},
		}},
		{"tag sets drop repeats but file lists keep them", "repeated-tags.json", Output{
			Commands: []Command{{Command: CommandItemUpdate, ItemID: "i", Actions: []Action{
				{Action: ActionAddTags, Tags: []string{"a", "b"}},
				{Action: ActionRemoveTagsCategory, Categories: []string{"c"}},
			}}},
			NewItems: []NewItem{{Files: []string{"x", "x"}, Metadata: &NewItemMeta{Tags: []string{"t", "t"}}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(readFixture(t, filepath.Join("valid", tt.file)))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				gj, _ := json.MarshalIndent(got, "", "  ")
				wj, _ := json.MarshalIndent(tt.want, "", "  ")
				t.Errorf("Decode mismatch\ngot:  %s\nwant: %s\n(got %#v)", gj, wj, got)
			}
		})
	}
}

func TestEveryValidFixtureIsInTheTable(t *testing.T) {
	// Guards against a fixture added to testdata/valid without assertions.
	files, err := filepath.Glob(filepath.Join("testdata", "valid", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 10 {
		t.Errorf("testdata/valid holds %d fixtures, TestDecodeAcceptsValidFixtures knows 10", len(files))
	}
}

func TestDecodeRejectsInvalidFixtures(t *testing.T) {
	tests := []struct {
		file   string
		path   string
		reason string // substring of the reason
	}{
		{"unknown-action", "commands[1].actions[0].action", `unknown action "frobnicate" (known: add-notes, add-tags,`},
		{"unknown-command", "commands[0].command", `unknown command "item-delete" (known: attachment-update, item-update)`},
		{"missing-command", "commands[0].command", "missing required field"},
		{"command-not-string", "commands[0].command", "must be a JSON string naming the command, got number 1"},
		{"missing-action", "commands[0].actions[0].action", "missing required field"},
		{"extracted-text-on-item", "commands[0].actions[0].action", `unknown action "set-extracted-text"`},
		{"item-action-on-attachment", "commands[0].actions[0].action", `unknown action "add-tags" (known: set-extracted-text)`},
		{"set-field-number", "commands[0].actions[0].value", `must be a JSON string, got number 12.99 (write it quoted: "12.99")`},
		{"set-field-missing-value", "commands[0].actions[0].value", "missing required field"},
		{"set-field-bad-field", "commands[0].actions[0].field", `invalid id "my field": character ' ' is not allowed`},
		{"set-date-fraction", "commands[0].actions[0].date", "fractional part"},
		{"set-date-iso-string", "commands[0].actions[0].date", `must be epoch milliseconds (an integer), got string "2023-11-11"`},
		{"set-date-missing", "commands[0].actions[0].date", "missing required field"},
		{"set-date-null", "commands[0].actions[0].date", "must not be null"},
		{"set-date-out-of-range", "commands[0].actions[0].date", "out of the 64-bit range"},
		{"set-due-date-bool", "commands[0].actions[0].duedate", "got boolean true"},
		{"item-id-slash", "commands[0].itemId", `invalid id "a/b": character '/' is not allowed`},
		{"item-id-missing", "commands[0].itemId", "missing required field"},
		{"item-id-number", "commands[0].itemId", "must be a JSON string, got number 42"},
		{"attach-id-missing", "commands[0].attachId", "missing required field"},
		{"actions-missing", "commands[0].actions", "missing required field"},
		{"actions-null", "commands[0].actions", "must not be null"},
		{"corr-org-bad-id", "commands[0].actions[0].id", `character 'ü' is not allowed`},
		{"tags-missing", "commands[0].actions[0].tags", "missing required field"},
		{"tags-not-array", "commands[0].actions[0].tags", `must be a JSON array of strings, got string "a,b"`},
		{"tags-element-number", "commands[0].actions[0].tags[1]", "must be a JSON string, got number 2"},
		{"categories-missing", "commands[0].actions[0].categories", "missing required field"},
		{"add-notes-missing-notes", "commands[0].actions[0].notes", "missing required field"},
		{"set-name-null", "commands[0].actions[0].name", "must not be null"},
		{"set-notes-number", "commands[0].actions[0].notes", "must be a JSON string"},
		{"folder-object", "commands[0].actions[0].folder", "must be a JSON string, got object"},
		{"action-not-object", "commands[0].actions[0]", `must be a JSON object, got string "add-tags"`},
		{"commands-not-array", "commands", "must be a JSON array, got object"},
		{"top-level-array", "", "stdout must be one JSON object, got array"},
		{"top-level-null", "", "stdout must be one JSON object, got null"},
		{"files-item-id-missing", "files[0].itemId", "missing required field"},
		{"text-files-value-number", "files[0].textFiles.HPFvIDib6eA", "must be a JSON string, got number 1"},
		{"text-files-odd-key", `files[0].textFiles["a b"]`, "must be a JSON string, got boolean false"},
		{"pdf-files-array", "files[0].pdfFiles", "must be a JSON object, got array"},
		{"new-file-missing-file", "files[0].newFiles[0].file", "missing required field"},
		{"new-file-bad-language", "files[0].newFiles[0].metadata.language", `unsupported language "klingon"`},
		{"new-file-attachments-only-string", "files[0].newFiles[0].metadata.attachmentsOnly", `must be true or false, got string "yes"`},
		{"new-item-missing-files", "newItems[0].files", "missing required field"},
		{"new-item-bad-direction", "newItems[0].metadata.direction", `unknown direction "sideways" (known: incoming, outgoing)`},
		{"new-item-bad-folder-id", "newItems[0].metadata.folderId", `invalid id "my folder"`},
		{"new-item-skip-duplicate-string", "newItems[0].metadata.skipDuplicate", `must be true or false, got string "true"`},
		{"new-item-files-element-null", "newItems[0].files[1]", "must be a JSON string, got null"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file+".json"] = true
		t.Run(tt.file+" is rejected at "+tt.path, func(t *testing.T) {
			out, err := Decode(readFixture(t, filepath.Join("invalid", tt.file+".json")))
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode error = %v (%T), want *DecodeError; output %+v", err, err, out)
			}
			if de.Path != tt.path {
				t.Errorf("Path = %q, want %q (error: %v)", de.Path, tt.path, err)
			}
			if !strings.Contains(de.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", de.Reason, tt.reason)
			}
			if !reflect.DeepEqual(out, Output{}) {
				t.Errorf("Decode returned %+v with an error, want the zero Output", out)
			}
		})
	}
	t.Run("every invalid fixture is in the table", func(t *testing.T) {
		files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if !seen[filepath.Base(f)] {
				t.Errorf("%s has no entry in the table", f)
			}
		}
	})
}

func TestDecodeErrorMessageNamesThePath(t *testing.T) {
	_, err := Decode(readFixture(t, filepath.Join("invalid", "unknown-action.json")))
	want := `output: commands[1].actions[0].action: unknown action "frobnicate" (known: add-notes, add-tags, remove-tags, remove-tags-category, replace-tags, set-conc-equipment, set-conc-person, set-corr-org, set-corr-person, set-date, set-due-date, set-field, set-folder, set-name, set-notes)`
	if err == nil || err.Error() != want {
		t.Errorf("Error() = %v\nwant      %s", err, want)
	}
}

func TestDecodeStdoutAsAWhole(t *testing.T) {
	long := "Processing file 1 of 3 ... done. Processing file 2 of 3 ... done. Processing file 3 of 3 ... done.\n{}"
	tests := []struct {
		name   string
		stdout string
		reason string // "" means success with an empty output
	}{
		{"empty stdout is the empty output", "", ""},
		{"whitespace only is the empty output", " \n\t\r\n  ", ""},
		{"control characters around the object are trimmed as Docspell trims", "\x00\n{}\n\x1b", ""},
		{"blank lines around the object are fine", "\n\n{\n\n\"commands\": []\n\n}\n\n", ""},
		{"plain text is not JSON and the start is shown", "Hello world!\n",
			`stdout is not JSON (invalid character 'H' looking for beginning of value at byte 1); stdout begins with "Hello world!"`},
		{"long plain text is cut to 80 bytes", long,
			`stdout begins with "Processing file 1 of 3 ... done. Processing file 2 of 3 ... done. Processing fil"...`},
		{"a truncated object is not JSON", `{"commands": [`, "stdout is not JSON (unexpected end of input)"},
		{"two objects are rejected", "{}\n{}\n", "stdout holds more than one JSON value (the second starts at byte 3)"},
		{"two objects on one line are rejected", `{"commands":[]}{"files":[]}`, "stdout holds more than one JSON value (the second starts at byte 15)"},
		{"trailing garbage is rejected", "{} done.", `unexpected data after the JSON value at byte 3: "done."`},
		{"a bare string is not an object", `"ok"`, `stdout must be one JSON object, got string "ok"`},
		{"a number is not an object", `42`, `stdout must be one JSON object, got number 42`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Decode([]byte(tt.stdout))
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if !out.IsEmpty() {
					t.Errorf("output = %+v, want empty", out)
				}
				return
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode error = %v, want *DecodeError", err)
			}
			if de.Path != "" {
				t.Errorf("Path = %q, want empty for stdout as a whole", de.Path)
			}
			if !strings.Contains(de.Reason, tt.reason) {
				t.Errorf("Reason = %q\nwant it to contain %q", de.Reason, tt.reason)
			}
		})
	}
}

func TestParseIntegral(t *testing.T) {
	tests := []struct {
		lit  string
		want int64
		err  error
	}{
		{"0", 0, nil},
		{"-0", 0, nil},
		{"1699697471000", 1699697471000, nil},
		{"-1", -1, nil},
		{"1.0", 1, nil},
		{"1.50e1", 15, nil},
		{"1e3", 1000, nil},
		{"1E+3", 1000, nil},
		{"12300e-2", 123, nil},
		{"0.0e999999999999", 0, nil},
		{"9223372036854775807", 9223372036854775807, nil},
		{"-9223372036854775808", -9223372036854775808, nil},
		{"9223372036854775808", 0, errRange},
		{"1e19", 0, errRange},
		{"1e999999999999999", 0, errRange},
		{"1.5", 0, errNotIntegral},
		{"1e-999999999999", 0, errNotIntegral},
		{"", 0, errNotNumber},
		{"+1", 0, errNotNumber},
		{"01", 0, errNotNumber},
		{"1.", 0, errNotNumber},
		{".5", 0, errNotNumber},
		{"1e", 0, errNotNumber},
		{" 1", 0, errNotNumber},
		{"0x10", 0, errNotNumber},
	}
	for _, tt := range tests {
		t.Run("parses "+strings.ReplaceAll(tt.lit, " ", "_"), func(t *testing.T) {
			got, err := parseIntegral(tt.lit)
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("parseIntegral(%q) = %d, %v; want %d, %v", tt.lit, got, err, tt.want, tt.err)
			}
		})
	}
}
