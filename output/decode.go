package output

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// DecodeError is a violation of Docspell's output schema. Path is the JSON
// path of the offending value ("commands[1].actions[0].action"); it is
// empty when the problem is stdout as a whole (not JSON, not an object, more
// than one value).
type DecodeError struct {
	Path   string
	Reason string
}

// Error returns "output: PATH: REASON", or "output: REASON" when Path is
// empty.
func (e *DecodeError) Error() string {
	if e.Path == "" {
		return "output: " + e.Reason
	}
	return "output: " + e.Path + ": " + e.Reason
}

// snippetLen is how much of stdout a "not JSON" error shows.
const snippetLen = 80

// MaxElementValues bounds the JSON values (objects, arrays, strings,
// numbers, booleans, nulls) in one element of commands, files or
// newItems: each is decoded on its own and dropped once checked, so
// stdout never lives in memory as generic values as a whole.
const MaxElementValues = 100_000

// Decode decodes and validates an addon's stdout. Surrounding whitespace
// is ignored and empty stdout is the empty Output. Otherwise stdout must be
// exactly one JSON object of Docspell's output schema; any violation is
// returned as a *DecodeError.
//
// The object is read as a stream: each element of commands, files and
// newItems is decoded, checked and converted on its own, and keys nobody
// reads are skipped without being decoded, so a hostile stdout costs
// about what its accepted part holds (see BenchmarkDecodeHostile).
func Decode(stdout []byte) (Output, error) {
	// Docspell drops blank lines and trims with String.trim, which removes
	// every character up to U+0020, not only JSON whitespace.
	trimmed := trimControl(stdout)
	if len(trimmed) == 0 {
		return Output{}, nil
	}
	// Syntax first, as a whole, without building anything: a syntax error
	// anywhere wins over a schema error before it.
	if err := syntaxCheck(trimmed); err != nil {
		return Output{}, err
	}
	if trimmed[0] != '{' {
		return Output{}, &DecodeError{Reason: "stdout must be one JSON object, got " + rawKind(trimmed)}
	}
	return decodeOutput(trimmed)
}

// syntaxCheck reports stdout that is not exactly one JSON value. It runs
// encoding/json's scanner over the bytes in place: nothing is built or
// copied, whatever the size.
func syntaxCheck(trimmed []byte) error {
	var skip skipValue
	err := json.Unmarshal(trimmed, &skip)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	if errors.As(err, &se) && strings.HasSuffix(se.Error(), "after top-level value") && se.Offset > 0 {
		off := se.Offset - 1
		rest := trimmed[off:]
		if rest[0] == '{' || rest[0] == '[' {
			return &DecodeError{Reason: fmt.Sprintf(
				"stdout holds more than one JSON value (the second starts at byte %d); it must be exactly one object", off)}
		}
		return &DecodeError{Reason: fmt.Sprintf(
			"unexpected data after the JSON value at byte %d: %s", off, snippet(trimControl(rest)))}
	}
	return &DecodeError{Reason: fmt.Sprintf(
		"stdout is not JSON (%s); stdout begins with %s", jsonErrText(err), snippet(trimmed))}
}

// skipValue is decoded into to check a value's syntax and skip it: the
// decoder hands it the value's bytes without copying or building them.
type skipValue struct{}

func (*skipValue) UnmarshalJSON([]byte) error { return nil }

// rawKind names the type of the JSON value in b (valid JSON) as kindOf
// does, decoding it only when it is a scalar.
func rawKind(b []byte) string {
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return "invalid JSON"
	}
	return kindOf(v)
}

// countValues counts the JSON values in b (valid JSON), stopping past max.
func countValues(b []byte, max int) int {
	n := 0
	inString, escaped, inScalar := false, false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
			inScalar = false
			n++
		case '{', '[':
			inScalar = false
			n++
		case ',', ':', '}', ']', ' ', '\t', '\n', '\r':
			inScalar = false
		default:
			if !inScalar {
				inScalar = true
				n++
			}
		}
		if n > max {
			return n
		}
	}
	return n
}

func jsonErrText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Error() == "unexpected end of JSON input" {
		return "unexpected end of input"
	}
	if errors.As(err, &se) {
		return fmt.Sprintf("%s at byte %d", se.Error(), se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return err.Error()
}

func snippet(b []byte) string {
	if len(b) <= snippetLen {
		return strconv.Quote(string(b))
	}
	return strconv.Quote(string(b[:snippetLen])) + "..."
}

func isControl(c byte) bool { return c <= ' ' }

func trimLeftControl(b []byte) []byte {
	for len(b) > 0 && isControl(b[0]) {
		b = b[1:]
	}
	return b
}

func trimControl(b []byte) []byte {
	b = trimLeftControl(b)
	for len(b) > 0 && isControl(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// kindOf names a decoded JSON value's type for error messages.
func kindOf(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean " + strconv.FormatBool(v)
	case json.Number:
		return "number " + v.String()
	case string:
		if len(v) > 40 {
			return "string " + strconv.Quote(v[:40]) + "..."
		}
		return "string " + strconv.Quote(v)
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func errAt(path, format string, args ...any) error {
	return &DecodeError{Path: path, Reason: fmt.Sprintf(format, args...)}
}

func keyPath(path, key string) string {
	simple := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			simple = false
			break
		}
	}
	if !simple {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// object is a JSON object being decoded at path. The getters mirror the
// circe decoders Docspell derives: a required field must be present and
// not null; an optional one (Scala Option) may be missing or null; a
// defaulted one (Docspell's withDefaults) takes its default when missing
// or null. Keys nobody asks for are ignored, as circe does.
type object struct {
	path string
	m    map[string]any
}

func asObject(path string, v any) (object, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return object{}, errAt(path, "must be a JSON object, got %s", kindOf(v))
	}
	return object{path: path, m: m}, nil
}

// lookup returns the value of key, and whether it is present and not null.
func (o object) lookup(key string) (any, bool) {
	v, ok := o.m[key]
	return v, ok && v != nil
}

func (o object) required(key string) (any, error) {
	v, ok := o.m[key]
	if !ok {
		return nil, errAt(keyPath(o.path, key), "missing required field")
	}
	if v == nil {
		return nil, errAt(keyPath(o.path, key), "must not be null")
	}
	return v, nil
}

func (o object) reqString(key string) (string, error) {
	v, err := o.required(key)
	if err != nil {
		return "", err
	}
	return asString(keyPath(o.path, key), v)
}

func (o object) optString(key string) (*string, error) {
	v, ok := o.lookup(key)
	if !ok {
		return nil, nil
	}
	s, err := asString(keyPath(o.path, key), v)
	return &s, err
}

func (o object) reqIdent(key string) (string, error) {
	v, err := o.required(key)
	if err != nil {
		return "", err
	}
	return asIdent(keyPath(o.path, key), v)
}

func (o object) optIdent(key string) (*string, error) {
	v, ok := o.lookup(key)
	if !ok {
		return nil, nil
	}
	s, err := asIdent(keyPath(o.path, key), v)
	return &s, err
}

func (o object) optBool(key string) (*bool, error) {
	v, ok := o.lookup(key)
	if !ok {
		return nil, nil
	}
	b, ok := v.(bool)
	if !ok {
		return nil, errAt(keyPath(o.path, key), "must be true or false, got %s", kindOf(v))
	}
	return &b, nil
}

func (o object) reqMillis(key string) (int64, error) {
	v, err := o.required(key)
	if err != nil {
		return 0, err
	}
	return asMillis(keyPath(o.path, key), v)
}

func (o object) optMillis(key string) (*int64, error) {
	v, ok := o.lookup(key)
	if !ok {
		return nil, nil
	}
	n, err := asMillis(keyPath(o.path, key), v)
	return &n, err
}

// reqStrings decodes a required array of strings; set drops repeated
// values, as Docspell's Set[String] does.
func (o object) reqStrings(key string, set bool) ([]string, error) {
	v, err := o.required(key)
	if err != nil {
		return nil, err
	}
	return asStrings(keyPath(o.path, key), v, set)
}

// reqArray and defArray return the elements of an array field with their
// paths' prefix.
func (o object) reqArray(key string) ([]any, string, error) {
	p := keyPath(o.path, key)
	v, err := o.required(key)
	if err != nil {
		return nil, p, err
	}
	a, ok := v.([]any)
	if !ok {
		return nil, p, errAt(p, "must be a JSON array, got %s", kindOf(v))
	}
	return a, p, nil
}

func (o object) defArray(key string) ([]any, string, error) {
	if _, ok := o.lookup(key); !ok {
		return nil, keyPath(o.path, key), nil
	}
	return o.reqArray(key)
}

// defStringMap decodes a defaulted object of string values.
func (o object) defStringMap(key string) (map[string]string, error) {
	v, ok := o.lookup(key)
	if !ok {
		return nil, nil
	}
	p := keyPath(o.path, key)
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errAt(p, "must be a JSON object, got %s", kindOf(v))
	}
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(m))
	for k, e := range m {
		s, err := asString(keyPath(p, k), e)
		if err != nil {
			return nil, err
		}
		out[k] = s
	}
	return out, nil
}

func (o object) optJSON(key string) (json.RawMessage, error) {
	v, ok := o.lookup(key)
	if !ok {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, errAt(keyPath(o.path, key), "cannot re-encode: %v", err)
	}
	return b, nil
}

// discriminator reads the key naming a command or action and checks it
// against the known names (sorted).
func (o object) discriminator(key, what string, known []string) (string, error) {
	p := keyPath(o.path, key)
	v, ok := o.m[key]
	if !ok {
		return "", errAt(p, "missing required field (one of: %s)", strings.Join(known, ", "))
	}
	s, ok := v.(string)
	if !ok {
		return "", errAt(p, "must be a JSON string naming the %s, got %s", what, kindOf(v))
	}
	for _, k := range known {
		if s == k {
			return s, nil
		}
	}
	return "", errAt(p, "unknown %s %q (known: %s)", what, s, strings.Join(known, ", "))
}

func asString(path string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		if n, isNum := v.(json.Number); isNum {
			return "", errAt(path, "must be a JSON string, got number %s (write it quoted: \"%s\")", n, n)
		}
		return "", errAt(path, "must be a JSON string, got %s", kindOf(v))
	}
	return s, nil
}

func asStrings(path string, v any, set bool) ([]string, error) {
	a, ok := v.([]any)
	if !ok {
		return nil, errAt(path, "must be a JSON array of strings, got %s", kindOf(v))
	}
	if len(a) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(a))
	seen := map[string]bool{}
	for i, e := range a {
		s, err := asString(indexPath(path, i), e)
		if err != nil {
			return nil, err
		}
		if set {
			if seen[s] {
				continue
			}
			seen[s] = true
		}
		out = append(out, s)
	}
	return out, nil
}

// asIdent checks Docspell's Ident alphabet: ASCII letters, digits and
// "-_.@". Like Docspell (Ident.fromString uses forall), the empty string
// is a valid id.
func asIdent(path string, v any) (string, error) {
	s, err := asString(path, v)
	if err != nil {
		return "", err
	}
	for i := 0; i < len(s); i++ {
		if !isIdentByte(s[i]) {
			return "", errAt(path, "invalid id %q: character %s is not allowed (ids use only letters A-Z a-z, digits 0-9 and - _ . @)",
				s, badRune(s, i))
		}
	}
	return s, nil
}

func isIdentByte(c byte) bool {
	switch {
	case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		return true
	case c == '-', c == '_', c == '.', c == '@':
		return true
	}
	return false
}

func badRune(s string, i int) string {
	for _, r := range s[i:] {
		return strconv.QuoteRune(r)
	}
	return "?"
}

// asMillis decodes epoch milliseconds the way circe's Decoder[Long] does:
// a JSON number with an integral value in int64 range ("1.0" and "1e3"
// are fine, "1.5" is not), or a JSON string holding such a number.
func asMillis(path string, v any) (int64, error) {
	var lit string
	switch v := v.(type) {
	case json.Number:
		lit = v.String()
	case string:
		lit = v
	default:
		return 0, errAt(path, "must be epoch milliseconds (an integer), got %s", kindOf(v))
	}
	n, err := parseIntegral(lit)
	if err != nil {
		return 0, errAt(path, "must be epoch milliseconds (an integer), got %s: %v", kindOf(v), err)
	}
	return n, nil
}

var (
	errNotNumber   = errors.New("not a number")
	errNotIntegral = errors.New("has a fractional part")
	errRange       = errors.New("out of the 64-bit range")
)

// parseIntegral parses a JSON number literal whose value is an integer in
// int64 range. It never builds big values, so huge exponents are cheap.
func parseIntegral(lit string) (int64, error) {
	s := lit
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	intPart, s := digits(s)
	if intPart == "" || len(intPart) > 1 && intPart[0] == '0' {
		return 0, errNotNumber
	}
	var frac string
	if strings.HasPrefix(s, ".") {
		frac, s = digits(s[1:])
		if frac == "" {
			return 0, errNotNumber
		}
	}
	exp := 0
	if s != "" && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		expNeg := false
		if s != "" && (s[0] == '+' || s[0] == '-') {
			expNeg, s = s[0] == '-', s[1:]
		}
		var e string
		e, s = digits(s)
		if e == "" {
			return 0, errNotNumber
		}
		e = strings.TrimLeft(e, "0")
		if len(e) > 9 {
			e = "999999999" // far beyond any int64; only the sign matters now
		}
		if e != "" {
			exp, _ = strconv.Atoi(e)
		}
		if expNeg {
			exp = -exp
		}
	}
	if s != "" {
		return 0, errNotNumber
	}
	// value = mant * 10^exp, mant without leading or trailing zeros
	mant := strings.TrimLeft(intPart+frac, "0")
	exp -= len(frac)
	if mant == "" {
		return 0, nil
	}
	trimmed := strings.TrimRight(mant, "0")
	exp += len(mant) - len(trimmed)
	mant = trimmed
	if exp < 0 {
		return 0, errNotIntegral
	}
	if len(mant)+exp > 19 {
		return 0, errRange
	}
	text := mant + strings.Repeat("0", exp)
	if neg {
		text = "-" + text
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, errRange
	}
	return n, nil
}

func digits(s string) (string, string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i], s[i:]
}

// decodeOutput reads the top-level object in b, which is one valid JSON
// object. A key given twice keeps its last value, as circe reads a JSON
// object; the three fields are then checked in a fixed order so the first
// error reported does not depend on key order.
func decodeOutput(b []byte) (Output, error) {
	var out Output
	var cmdErr, fileErr, itemErr error
	for key, raw := range members(b) {
		switch key {
		case "commands":
			out.Commands = nil
			cmdErr = decodeArray(raw, "commands", func(p string, v any) error {
				c, err := decodeCommand(p, v)
				out.Commands = append(out.Commands, c)
				return err
			})
		case "files":
			out.Files = nil
			fileErr = decodeArray(raw, "files", func(p string, v any) error {
				f, err := decodeItemFile(p, v)
				out.Files = append(out.Files, f)
				return err
			})
		case "newItems":
			out.NewItems = nil
			itemErr = decodeArray(raw, "newItems", func(p string, v any) error {
				n, err := decodeNewItem(p, v)
				out.NewItems = append(out.NewItems, n)
				return err
			})
		}
	}
	for _, err := range []error{cmdErr, fileErr, itemErr} {
		if err != nil {
			return Output{}, err
		}
	}
	return out, nil
}

func notJSON(err error) error {
	return &DecodeError{Reason: "stdout is not JSON: " + err.Error()}
}

// decodeArray reads the value of a defaulted array field (null: empty)
// and hands each element, decoded on its own, to each. It stops at the
// first error.
func decodeArray(raw []byte, path string, each func(path string, v any) error) error {
	switch {
	case string(raw) == "null":
		return nil
	case raw[0] != '[':
		return errAt(path, "must be a JSON array, got %s", rawKind(raw))
	}
	// One decoder reads the elements in turn, holding one at a time; the
	// scanner walks beside it to count each element's values first.
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if _, err := d.Token(); err != nil { // [
		return notJSON(err)
	}
	i := 0
	for elem := range elements(raw) {
		p := indexPath(path, i)
		i++
		if n := countValues(elem, MaxElementValues); n > MaxElementValues {
			return errAt(p, "holds more than %d JSON values, the most one element may hold", MaxElementValues)
		}
		var v any
		if err := d.Decode(&v); err != nil {
			return notJSON(err)
		}
		if err := each(p, v); err != nil {
			return err
		}
	}
	return nil
}

func decodeCommand(path string, v any) (Command, error) {
	o, err := asObject(path, v)
	if err != nil {
		return Command{}, err
	}
	var c Command
	if c.Command, err = o.discriminator("command", "command", commandNames); err != nil {
		return Command{}, err
	}
	if c.ItemID, err = o.reqIdent("itemId"); err != nil {
		return Command{}, err
	}
	known := itemActions
	if c.Command == CommandAttachmentUpdate {
		known = attachmentActions
		if c.AttachID, err = o.reqIdent("attachId"); err != nil {
			return Command{}, err
		}
	}
	actions, p, err := o.reqArray("actions")
	if err != nil {
		return Command{}, err
	}
	for i, av := range actions {
		a, err := decodeAction(indexPath(p, i), av, known)
		if err != nil {
			return Command{}, err
		}
		c.Actions = append(c.Actions, a)
	}
	return c, nil
}

func decodeAction(path string, v any, known []string) (Action, error) {
	o, err := asObject(path, v)
	if err != nil {
		return Action{}, err
	}
	var a Action
	if a.Action, err = o.discriminator("action", "action", known); err != nil {
		return Action{}, err
	}
	switch a.Action {
	case ActionAddTags, ActionReplaceTags, ActionRemoveTags:
		a.Tags, err = o.reqStrings("tags", true)
	case ActionRemoveTagsCategory:
		a.Categories, err = o.reqStrings("categories", true)
	case ActionSetDate:
		a.Date, err = o.reqMillis("date")
	case ActionSetDueDate:
		a.DueDate, err = o.optMillis("duedate")
	case ActionSetFolder:
		a.Folder, err = o.optString("folder")
	case ActionSetCorrOrg, ActionSetCorrPerson, ActionSetConcPerson, ActionSetConcEquipment:
		a.ID, err = o.optIdent("id")
	case ActionSetField:
		if a.Field, err = o.reqIdent("field"); err == nil {
			a.Value, err = o.reqString("value")
		}
	case ActionSetName:
		a.Name, err = o.reqString("name")
	case ActionSetNotes:
		a.Notes, err = o.optString("notes")
	case ActionAddNotes:
		var notes string
		if notes, err = o.reqString("notes"); err == nil {
			a.Notes = &notes
			a.Separator, err = o.optString("separator")
		}
	case ActionSetExtractedText:
		a.Text, err = o.optString("text")
	}
	if err != nil {
		return Action{}, err
	}
	return a, nil
}

func decodeItemFile(path string, v any) (ItemFile, error) {
	o, err := asObject(path, v)
	if err != nil {
		return ItemFile{}, err
	}
	var f ItemFile
	if f.ItemID, err = o.reqIdent("itemId"); err != nil {
		return ItemFile{}, err
	}
	// Docspell types these keys as plain strings, not ids: it looks them
	// up among the item's attachments and ignores the ones it does not
	// find, so berth does not check their alphabet either.
	if f.TextFiles, err = o.defStringMap("textFiles"); err != nil {
		return ItemFile{}, err
	}
	if f.PDFFiles, err = o.defStringMap("pdfFiles"); err != nil {
		return ItemFile{}, err
	}
	if f.PreviewImages, err = o.defStringMap("previewImages"); err != nil {
		return ItemFile{}, err
	}
	nfs, p, err := o.defArray("newFiles")
	if err != nil {
		return ItemFile{}, err
	}
	for i, nv := range nfs {
		nf, err := decodeNewFile(indexPath(p, i), nv)
		if err != nil {
			return ItemFile{}, err
		}
		f.NewFiles = append(f.NewFiles, nf)
	}
	return f, nil
}

func decodeNewFile(path string, v any) (NewFile, error) {
	o, err := asObject(path, v)
	if err != nil {
		return NewFile{}, err
	}
	var nf NewFile
	if mv, ok := o.lookup("metadata"); ok {
		mo, err := asObject(keyPath(path, "metadata"), mv)
		if err != nil {
			return NewFile{}, err
		}
		if nf.Metadata.Language, err = optLanguage(mo); err != nil {
			return NewFile{}, err
		}
		if nf.Metadata.SkipDuplicate, err = mo.optBool("skipDuplicate"); err != nil {
			return NewFile{}, err
		}
		if nf.Metadata.AttachmentsOnly, err = mo.optBool("attachmentsOnly"); err != nil {
			return NewFile{}, err
		}
		if nf.Metadata.CustomData, err = mo.optJSON("customData"); err != nil {
			return NewFile{}, err
		}
	}
	if nf.File, err = o.reqString("file"); err != nil {
		return NewFile{}, err
	}
	return nf, nil
}

func decodeNewItem(path string, v any) (NewItem, error) {
	o, err := asObject(path, v)
	if err != nil {
		return NewItem{}, err
	}
	var n NewItem
	if mv, ok := o.lookup("metadata"); ok {
		mo, err := asObject(keyPath(path, "metadata"), mv)
		if err != nil {
			return NewItem{}, err
		}
		var m NewItemMeta
		if m.Language, err = optLanguage(mo); err != nil {
			return NewItem{}, err
		}
		if m.Direction, err = optDirection(mo); err != nil {
			return NewItem{}, err
		}
		if m.FolderID, err = mo.optIdent("folderId"); err != nil {
			return NewItem{}, err
		}
		if m.Source, err = mo.optString("source"); err != nil {
			return NewItem{}, err
		}
		if m.SkipDuplicate, err = mo.optBool("skipDuplicate"); err != nil {
			return NewItem{}, err
		}
		if tv, ok := mo.lookup("tags"); ok {
			// a List in Docspell, not a Set: repeated tags are kept
			if m.Tags, err = asStrings(keyPath(mo.path, "tags"), tv, false); err != nil {
				return NewItem{}, err
			}
		}
		if m.AttachmentsOnly, err = mo.optBool("attachmentsOnly"); err != nil {
			return NewItem{}, err
		}
		if m.CustomData, err = mo.optJSON("customData"); err != nil {
			return NewItem{}, err
		}
		n.Metadata = &m
	}
	if n.Files, err = o.reqStrings("files", false); err != nil {
		return NewItem{}, err
	}
	return n, nil
}

// languages are Docspell's Language values (docspell.common.Language):
// name, ISO 639-1 and ISO 639-3 code, matched case-insensitively. The
// codes are Docspell's, including its non-standard "kh", "svk" and
// "ja_vert".
var languages = [][3]string{
	{"german", "de", "deu"}, {"english", "en", "eng"}, {"french", "fr", "fra"},
	{"italian", "it", "ita"}, {"spanish", "es", "spa"}, {"hungarian", "hu", "hun"},
	{"dutch", "nl", "nld"}, {"portuguese", "pt", "por"}, {"czech", "cs", "ces"},
	{"danish", "da", "dan"}, {"finnish", "fi", "fin"}, {"norwegian", "no", "nor"},
	{"swedish", "sv", "swe"}, {"russian", "ru", "rus"}, {"romanian", "ro", "ron"},
	{"latvian", "lv", "lav"}, {"japanese", "ja", "jpn"}, {"jpnvert", "ja_vert", "jpn_vert"},
	{"hebrew", "he", "heb"}, {"lithuanian", "lt", "lit"}, {"polish", "pl", "pol"},
	{"estonian", "et", "est"}, {"ukrainian", "uk", "ukr"}, {"slovak", "sk", "svk"},
	{"khmer", "kh", "khm"},
}

func optLanguage(o object) (string, error) {
	s, err := o.optString("language")
	if err != nil || s == nil {
		return "", err
	}
	lower := strings.ToLower(*s)
	for _, l := range languages {
		if lower == l[0] || lower == l[1] || lower == l[2] {
			return *s, nil
		}
	}
	codes := make([]string, len(languages))
	for i, l := range languages {
		codes[i] = l[2]
	}
	return "", errAt(keyPath(o.path, "language"), "unsupported language %q (Docspell knows: %s, or their names or two-letter codes)",
		*s, strings.Join(codes, ", "))
}

func optDirection(o object) (string, error) {
	s, err := o.optString("direction")
	if err != nil || s == nil {
		return "", err
	}
	switch strings.ToLower(*s) {
	case "incoming", "outgoing":
		return *s, nil
	}
	return "", errAt(keyPath(o.path, "direction"), "unknown direction %q (known: incoming, outgoing)", *s)
}
