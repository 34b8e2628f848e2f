package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Command names, the values of a command's "command" key.
const (
	CommandItemUpdate       = "item-update"
	CommandAttachmentUpdate = "attachment-update"
)

// Action names, the values of an action's "action" key. All but
// ActionSetExtractedText belong to item-update; ActionSetExtractedText is
// the only action of attachment-update.
const (
	ActionSetDate            = "set-date"
	ActionAddTags            = "add-tags"
	ActionReplaceTags        = "replace-tags"
	ActionRemoveTags         = "remove-tags"
	ActionRemoveTagsCategory = "remove-tags-category"
	ActionSetDueDate         = "set-due-date"
	ActionSetFolder          = "set-folder"
	ActionSetCorrOrg         = "set-corr-org"
	ActionSetCorrPerson      = "set-corr-person"
	ActionSetConcPerson      = "set-conc-person"
	ActionSetConcEquipment   = "set-conc-equipment"
	ActionSetField           = "set-field"
	ActionSetName            = "set-name"
	ActionSetNotes           = "set-notes"
	ActionAddNotes           = "add-notes"
	ActionSetExtractedText   = "set-extracted-text"
)

// itemActions and attachmentActions are sorted: they appear in error
// messages as the list of known names.
var (
	itemActions = []string{
		ActionAddNotes, ActionAddTags, ActionRemoveTags, ActionRemoveTagsCategory,
		ActionReplaceTags, ActionSetConcEquipment, ActionSetConcPerson,
		ActionSetCorrOrg, ActionSetCorrPerson, ActionSetDate, ActionSetDueDate,
		ActionSetField, ActionSetFolder, ActionSetName, ActionSetNotes,
	}
	attachmentActions = []string{ActionSetExtractedText}
	commandNames      = []string{CommandAttachmentUpdate, CommandItemUpdate}
)

// Output is the decoded stdout of one addon run, or the merged outputs of
// a chain. The zero value is the empty output.
type Output struct {
	Commands []Command  `json:"commands,omitempty"`
	Files    []ItemFile `json:"files,omitempty"`
	NewItems []NewItem  `json:"newItems,omitempty"`
}

// IsEmpty reports whether o asks Docspell to do nothing.
func (o Output) IsEmpty() bool {
	return len(o.Commands) == 0 && len(o.Files) == 0 && len(o.NewItems) == 0
}

// Merge concatenates outputs in order: the combined result of a chain.
// The result shares no slices with its arguments.
//
// Docspell's own AddonOutput.combine drops newItems; berth keeps them, as
// every addon of a chain expects its new items to be processed.
func Merge(outs ...Output) Output {
	var m Output
	for _, o := range outs {
		m.Commands = append(m.Commands, o.Commands...)
		m.Files = append(m.Files, o.Files...)
		m.NewItems = append(m.NewItems, o.NewItems...)
	}
	return m
}

// Command is one entry of "commands": a list of actions on an item
// (item-update) or on one attachment of an item (attachment-update).
type Command struct {
	// Command is CommandItemUpdate or CommandAttachmentUpdate.
	Command string `json:"command"`
	ItemID  string `json:"itemId"`
	// AttachID is set for attachment-update only.
	AttachID string   `json:"attachId,omitempty"`
	Actions  []Action `json:"actions"`
}

// MarshalJSON writes the command as Docspell reads it: attachId only for
// attachment-update, and actions always as an array (Docspell requires it).
func (c Command) MarshalJSON() ([]byte, error) {
	var w objectWriter
	w.field("command", c.Command)
	w.field("itemId", c.ItemID)
	switch c.Command {
	case CommandItemUpdate:
	case CommandAttachmentUpdate:
		w.field("attachId", c.AttachID)
	default:
		return nil, fmt.Errorf("output: cannot marshal unknown command %q", c.Command)
	}
	actions := c.Actions
	if actions == nil {
		actions = []Action{}
	}
	w.field("actions", actions)
	return w.finish()
}

// Action is one entry of a command's "actions". Which fields are used
// depends on Action (the JSON key "action"); the others are ignored when
// marshalling. Pointer fields are Docspell's optional values: nil is
// JSON null, which for set-folder, set-corr-org and the like means
// "unset".
type Action struct {
	Action string `json:"action"`

	// Tags for add-tags, replace-tags and remove-tags (a set in Docspell:
	// Decode drops repeated tags).
	Tags []string `json:"tags,omitempty"`
	// Categories for remove-tags-category (a set, like Tags).
	Categories []string `json:"categories,omitempty"`
	// Date for set-date, epoch milliseconds.
	Date int64 `json:"date,omitempty"`
	// DueDate for set-due-date, epoch milliseconds; nil removes it.
	DueDate *int64 `json:"duedate,omitempty"`
	// Folder for set-folder: a folder name or id; nil removes the folder.
	Folder *string `json:"folder,omitempty"`
	// ID for set-corr-org, set-corr-person, set-conc-person and
	// set-conc-equipment; nil removes the value.
	ID *string `json:"id,omitempty"`
	// Field and Value for set-field: the custom field's id or name, and
	// its value, always a string in JSON ("12.99", not 12.99).
	Field string `json:"field,omitempty"`
	Value string `json:"value,omitempty"`
	// Name for set-name.
	Name string `json:"name,omitempty"`
	// Notes for set-notes (nil removes the notes) and add-notes (required).
	Notes *string `json:"notes,omitempty"`
	// Separator for add-notes, optional.
	Separator *string `json:"separator,omitempty"`
	// Text for set-extracted-text; nil removes the extracted text.
	Text *string `json:"text,omitempty"`
}

// MarshalJSON writes exactly the keys Docspell's encoder writes for the
// action, including explicit nulls for unset optional values.
func (a Action) MarshalJSON() ([]byte, error) {
	var w objectWriter
	w.field("action", a.Action)
	switch a.Action {
	case ActionAddTags, ActionReplaceTags, ActionRemoveTags:
		w.field("tags", nonNil(a.Tags))
	case ActionRemoveTagsCategory:
		w.field("categories", nonNil(a.Categories))
	case ActionSetDate:
		w.field("date", a.Date)
	case ActionSetDueDate:
		w.field("duedate", a.DueDate)
	case ActionSetFolder:
		w.field("folder", a.Folder)
	case ActionSetCorrOrg, ActionSetCorrPerson, ActionSetConcPerson, ActionSetConcEquipment:
		w.field("id", a.ID)
	case ActionSetField:
		w.field("field", a.Field)
		w.field("value", a.Value)
	case ActionSetName:
		w.field("name", a.Name)
	case ActionSetNotes:
		w.field("notes", a.Notes)
	case ActionAddNotes:
		notes := ""
		if a.Notes != nil {
			notes = *a.Notes
		}
		w.field("notes", notes)
		w.field("separator", a.Separator)
	case ActionSetExtractedText:
		w.field("text", a.Text)
	default:
		return nil, fmt.Errorf("output: cannot marshal unknown action %q", a.Action)
	}
	return w.finish()
}

// ItemFile names files the addon wrote to its output directory for an
// existing item. The maps go from attachment id to a path relative to the
// output directory.
type ItemFile struct {
	ItemID string `json:"itemId"`
	// TextFiles replace the extracted text of attachments.
	TextFiles map[string]string `json:"textFiles,omitempty"`
	// PDFFiles add or replace the converted PDF of attachments.
	PDFFiles map[string]string `json:"pdfFiles,omitempty"`
	// PreviewImages add or replace the preview images of attachments.
	PreviewImages map[string]string `json:"previewImages,omitempty"`
	// NewFiles are added to the item as new attachments.
	NewFiles []NewFile `json:"newFiles,omitempty"`
}

// NewFile is a file, relative to the output directory, to add as a new
// attachment to an existing item.
type NewFile struct {
	Metadata NewFileMeta `json:"metadata,omitzero"`
	File     string      `json:"file"`
}

// NewFileMeta is the optional processing metadata of a NewFile.
type NewFileMeta struct {
	// Language as Docspell accepts it: its name, ISO 639-1 or ISO 639-3
	// code, any case ("eng", "en", "English"). Empty means unset.
	Language        string          `json:"language,omitempty"`
	SkipDuplicate   *bool           `json:"skipDuplicate,omitempty"`
	AttachmentsOnly *bool           `json:"attachmentsOnly,omitempty"`
	CustomData      json.RawMessage `json:"customData,omitempty"`
}

// NewItem asks Docspell to create a new item from files, relative to the
// output directory, as if they were uploaded.
type NewItem struct {
	Metadata *NewItemMeta `json:"metadata,omitempty"`
	Files    []string     `json:"files"`
}

// MarshalJSON writes files as an array even when empty: Docspell requires
// the key.
func (n NewItem) MarshalJSON() ([]byte, error) {
	type plain NewItem
	p := plain(n)
	p.Files = nonNil(p.Files)
	return json.Marshal(p)
}

// NewItemMeta is the optional processing metadata of a NewItem.
type NewItemMeta struct {
	// Language as for NewFileMeta.Language.
	Language string `json:"language,omitempty"`
	// Direction is "incoming" or "outgoing" (any case); empty means unset.
	Direction       string          `json:"direction,omitempty"`
	FolderID        *string         `json:"folderId,omitempty"`
	Source          *string         `json:"source,omitempty"`
	SkipDuplicate   *bool           `json:"skipDuplicate,omitempty"`
	Tags            []string        `json:"tags,omitempty"`
	AttachmentsOnly *bool           `json:"attachmentsOnly,omitempty"`
	CustomData      json.RawMessage `json:"customData,omitempty"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// objectWriter writes a JSON object with keys in the order given; the
// first marshalling error is kept and returned by finish.
type objectWriter struct {
	buf bytes.Buffer
	err error
}

func (w *objectWriter) field(key string, v any) {
	if w.err != nil {
		return
	}
	if w.buf.Len() == 0 {
		w.buf.WriteByte('{')
	} else {
		w.buf.WriteByte(',')
	}
	k, _ := json.Marshal(key)
	w.buf.Write(k)
	w.buf.WriteByte(':')
	b, err := json.Marshal(v)
	if err != nil {
		w.err = err
		return
	}
	w.buf.Write(b)
}

func (w *objectWriter) finish() ([]byte, error) {
	if w.err != nil {
		return nil, w.err
	}
	if w.buf.Len() == 0 {
		return []byte("{}"), nil
	}
	w.buf.WriteByte('}')
	return slices.Clone(w.buf.Bytes()), nil
}
