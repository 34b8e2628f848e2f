package output

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/golden"
)

func TestOutputRoundTripsThroughJSON(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "valid", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f)+" decodes the same after marshalling", func(t *testing.T) {
			first, err := Decode(readFixture(t, filepath.Join("valid", filepath.Base(f))))
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(first)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			second, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode(Marshal(o)): %v\n%s", err, b)
			}
			if !reflect.DeepEqual(first, second) {
				t.Errorf("round trip changed the output\nfirst:  %#v\nsecond: %#v\njson: %s", first, second, b)
			}
			again, err := json.Marshal(second)
			if err != nil || !bytes.Equal(again, b) {
				t.Errorf("marshalling is not stable:\n%s\n%s", b, again)
			}
		})
	}
}

// The JSON berth prints for Docspell's documented example, checked line by
// line against a golden file: the same keys as Docspell's encoder writes,
// minus null metadata values (missing and null are the same to Docspell).
func TestMarshalMatchesDocspellShape(t *testing.T) {
	got, err := json.MarshalIndent(docsExample, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden.Check(t, filepath.Join("testdata", "docspell-docs-example.golden.json"), got)
}

func TestEveryActionMarshalsAsDocspellReadsIt(t *testing.T) {
	tests := []struct {
		name    string
		command string
		action  Action
		json    string
	}{
		{"set-date writes date", CommandItemUpdate, Action{Action: ActionSetDate, Date: 1699697471000},
			`{"action":"set-date","date":1699697471000}`},
		{"add-tags writes tags", CommandItemUpdate, Action{Action: ActionAddTags, Tags: []string{"a", "b"}},
			`{"action":"add-tags","tags":["a","b"]}`},
		{"replace-tags writes an empty list, never null", CommandItemUpdate, Action{Action: ActionReplaceTags},
			`{"action":"replace-tags","tags":[]}`},
		{"remove-tags writes tags", CommandItemUpdate, Action{Action: ActionRemoveTags, Tags: []string{"x"}},
			`{"action":"remove-tags","tags":["x"]}`},
		{"remove-tags-category writes categories", CommandItemUpdate, Action{Action: ActionRemoveTagsCategory, Categories: []string{"doctype"}},
			`{"action":"remove-tags-category","categories":["doctype"]}`},
		{"set-due-date writes duedate", CommandItemUpdate, Action{Action: ActionSetDueDate, DueDate: ptr(int64(5))},
			`{"action":"set-due-date","duedate":5}`},
		{"set-due-date without a date writes null", CommandItemUpdate, Action{Action: ActionSetDueDate},
			`{"action":"set-due-date","duedate":null}`},
		{"set-folder writes folder", CommandItemUpdate, Action{Action: ActionSetFolder, Folder: ptr("Inbox 2024")},
			`{"action":"set-folder","folder":"Inbox 2024"}`},
		{"set-folder without a folder writes null", CommandItemUpdate, Action{Action: ActionSetFolder},
			`{"action":"set-folder","folder":null}`},
		{"set-corr-org writes id", CommandItemUpdate, Action{Action: ActionSetCorrOrg, ID: ptr("org-1")},
			`{"action":"set-corr-org","id":"org-1"}`},
		{"set-corr-person writes id", CommandItemUpdate, Action{Action: ActionSetCorrPerson, ID: ptr("p-1")},
			`{"action":"set-corr-person","id":"p-1"}`},
		{"set-conc-person writes null id to unset", CommandItemUpdate, Action{Action: ActionSetConcPerson},
			`{"action":"set-conc-person","id":null}`},
		{"set-conc-equipment writes id", CommandItemUpdate, Action{Action: ActionSetConcEquipment, ID: ptr("eq@1")},
			`{"action":"set-conc-equipment","id":"eq@1"}`},
		{"set-field writes the value as a string", CommandItemUpdate, Action{Action: ActionSetField, Field: "eur", Value: "12.99"},
			`{"action":"set-field","field":"eur","value":"12.99"}`},
		{"set-name writes an empty name", CommandItemUpdate, Action{Action: ActionSetName},
			`{"action":"set-name","name":""}`},
		{"set-notes writes notes", CommandItemUpdate, Action{Action: ActionSetNotes, Notes: ptr("n")},
			`{"action":"set-notes","notes":"n"}`},
		{"add-notes writes notes and separator", CommandItemUpdate, Action{Action: ActionAddNotes, Notes: ptr("more"), Separator: ptr("--")},
			`{"action":"add-notes","notes":"more","separator":"--"}`},
		{"add-notes without notes writes an empty string", CommandItemUpdate, Action{Action: ActionAddNotes},
			`{"action":"add-notes","notes":"","separator":null}`},
		{"set-extracted-text writes text", CommandAttachmentUpdate, Action{Action: ActionSetExtractedText, Text: ptr("ocr")},
			`{"action":"set-extracted-text","text":"ocr"}`},
		{"fields of other actions are left out", CommandItemUpdate, Action{Action: ActionSetName, Name: "n", Tags: []string{"x"}, Date: 3},
			`{"action":"set-name","name":"n"}`},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.action.Action] = true
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.action)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.json {
				t.Errorf("Marshal = %s\nwant      %s", b, tt.json)
			}
			cmd := Command{Command: tt.command, ItemID: "item", Actions: []Action{tt.action}}
			if tt.command == CommandAttachmentUpdate {
				cmd.AttachID = "att"
			}
			stdout, err := json.Marshal(Output{Commands: []Command{cmd}})
			if err != nil {
				t.Fatal(err)
			}
			out, err := Decode(stdout)
			if err != nil {
				t.Fatalf("Decode(%s): %v", stdout, err)
			}
			back, _ := json.Marshal(out.Commands[0].Actions[0])
			if string(back) != tt.json {
				t.Errorf("decoded action marshals to %s, want %s", back, tt.json)
			}
		})
	}
	t.Run("every known action is covered", func(t *testing.T) {
		for _, a := range append(append([]string{}, itemActions...), attachmentActions...) {
			if !covered[a] {
				t.Errorf("action %s has no case", a)
			}
		}
	})
}

func TestMarshalRefusesUnknownNames(t *testing.T) {
	tests := []struct {
		name string
		out  Output
		want string
	}{
		{"an unknown action is not marshalled", Output{Commands: []Command{{Command: CommandItemUpdate, ItemID: "i",
			Actions: []Action{{Action: "frobnicate"}}}}}, `unknown action "frobnicate"`},
		{"an unknown command is not marshalled", Output{Commands: []Command{{Command: "item-delete", ItemID: "i"}}},
			`unknown command "item-delete"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := json.Marshal(tt.out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Marshal error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestMarshalWritesRequiredKeysOfEmptyValues(t *testing.T) {
	tests := []struct {
		name string
		out  Output
		json string
	}{
		{"the empty output is an empty object", Output{}, `{}`},
		{"a command without actions writes an empty list", Output{Commands: []Command{{Command: CommandItemUpdate, ItemID: "i"}}},
			`{"commands":[{"command":"item-update","itemId":"i","actions":[]}]}`},
		{"an attachment-update writes attachId", Output{Commands: []Command{{Command: CommandAttachmentUpdate, ItemID: "i", AttachID: "a"}}},
			`{"commands":[{"command":"attachment-update","itemId":"i","attachId":"a","actions":[]}]}`},
		{"an item-update never writes attachId", Output{Commands: []Command{{Command: CommandItemUpdate, ItemID: "i", AttachID: "a"}}},
			`{"commands":[{"command":"item-update","itemId":"i","actions":[]}]}`},
		{"a new item without files writes an empty list", Output{NewItems: []NewItem{{}}}, `{"newItems":[{"files":[]}]}`},
		{"an item file writes only its id when nothing else is set", Output{Files: []ItemFile{{ItemID: "i"}}}, `{"files":[{"itemId":"i"}]}`},
		{"a new file without metadata writes only the file", Output{Files: []ItemFile{{ItemID: "i", NewFiles: []NewFile{{File: "a.pdf"}}}}},
			`{"files":[{"itemId":"i","newFiles":[{"file":"a.pdf"}]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.out)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.json {
				t.Errorf("Marshal = %s\nwant      %s", b, tt.json)
			}
			if _, err := Decode(b); err != nil {
				t.Errorf("Docspell's rules reject what berth writes: %v", err)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	a := Output{
		Commands: []Command{{Command: CommandItemUpdate, ItemID: "a"}},
		Files:    []ItemFile{{ItemID: "fa"}},
	}
	b := Output{NewItems: []NewItem{{Files: []string{"b.pdf"}}}}
	c := Output{
		Commands: []Command{{Command: CommandItemUpdate, ItemID: "c"}},
		Files:    []ItemFile{{ItemID: "fc"}},
		NewItems: []NewItem{{Files: []string{"c.pdf"}}},
	}
	tests := []struct {
		name string
		in   []Output
		want Output
	}{
		{"no outputs merge to the empty output", nil, Output{}},
		{"one output merges to itself", []Output{a}, a},
		{"outputs are concatenated in order, new items included", []Output{a, b, c}, Output{
			Commands: []Command{{Command: CommandItemUpdate, ItemID: "a"}, {Command: CommandItemUpdate, ItemID: "c"}},
			Files:    []ItemFile{{ItemID: "fa"}, {ItemID: "fc"}},
			NewItems: []NewItem{{Files: []string{"b.pdf"}}, {Files: []string{"c.pdf"}}},
		}},
		{"empty outputs change nothing", []Output{{}, a, {}}, a},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Merge(tt.in...)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Merge = %+v\nwant    %+v", got, tt.want)
			}
		})
	}
	t.Run("the merged output shares no slice with its inputs", func(t *testing.T) {
		x := Output{Commands: make([]Command, 1, 4)}
		x.Commands[0] = Command{Command: CommandItemUpdate, ItemID: "x"}
		m := Merge(x, c)
		m.Commands[0].ItemID = "changed"
		if x.Commands[0].ItemID != "x" {
			t.Errorf("Merge aliased its first input")
		}
		_ = append(x.Commands, Command{ItemID: "appended"})
		if len(m.Commands) != 2 || m.Commands[1].ItemID != "c" {
			t.Errorf("appending to an input changed the merged output: %+v", m.Commands)
		}
	})
}

func TestIsEmpty(t *testing.T) {
	tests := []struct {
		name string
		out  Output
		want bool
	}{
		{"the zero output is empty", Output{}, true},
		{"empty non-nil lists are empty", Output{Commands: []Command{}, Files: []ItemFile{}, NewItems: []NewItem{}}, true},
		{"a command makes it non-empty", Output{Commands: []Command{{Command: CommandItemUpdate}}}, false},
		{"an item file makes it non-empty", Output{Files: []ItemFile{{ItemID: "i"}}}, false},
		{"a new item makes it non-empty", Output{NewItems: []NewItem{{}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.out.IsEmpty(); got != tt.want {
				t.Errorf("IsEmpty() = %v, want %v", got, tt.want)
			}
		})
	}
}
