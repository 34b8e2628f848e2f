package executor

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gabriel-vasile/mimetype"
)

// ItemFile is one attachment file a host hands to a run: its converted
// PDF (Item.Pdfs) or its original (Item.Originals). Docspell's joex
// writes each attachment as item/pdfs/<id> and item/originals/<id> and
// lists it in pdf-files.json / source-files.json
// (modules/joex/src/main/scala/docspell/joex/addon/GenericItemAddonTask.scala:107-128);
// berth does the same with these fields.
type ItemFile struct {
	// ID is the attachment id, the file's name under item/pdfs or
	// item/originals. A PDF and an original of one attachment share it.
	// Empty derives it from Name (see DeriveItemID).
	ID string `json:"id,omitempty"`
	// Name is the real file name, listed as "name"; empty means the base
	// name of Path.
	Name string `json:"name,omitempty"`
	// Path is the host file to copy. In a manifest it is "file",
	// relative to the manifest's directory.
	Path string `json:"file"`
	// Language is the attachment's language as Docspell writes it (ISO
	// 639-3, e.g. "deu"); empty is listed as null.
	Language string `json:"language,omitempty"`
	// Mimetype overrides the type detected from the file's content.
	Mimetype string `json:"mimetype,omitempty"`
}

// ItemFileError is a bad attachment file of an item: Field is the JSON
// path of the entry ("pdfs[1].id"), File the manifest it came from, if
// any.
type ItemFileError struct {
	File, Field, Reason string
}

func (e *ItemFileError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("%s: %s: %s", e.File, e.Field, e.Reason)
	}
	return fmt.Sprintf("item %s: %s", e.Field, e.Reason)
}

// Is makes an ItemFileError match ErrBadRequest.
func (e *ItemFileError) Is(target error) bool { return target == ErrBadRequest }

// ItemManifest is the file a host (`berth addon run --item-files`) uses to
// describe an item's attachments: the same objects as pdf-files.json and
// source-files.json, with "file" naming the file to copy.
type ItemManifest struct {
	Pdfs      []ItemFile `json:"pdfs"`
	Originals []ItemFile `json:"originals"`
}

// LoadItemManifest reads an ItemManifest from a JSON file. Relative
// "file" paths are taken relative to the manifest's directory. Unknown
// keys are refused, so that a misspelt "languge" is not silently lost.
func LoadItemManifest(path string) (ItemManifest, error) {
	var m ItemManifest
	b, err := os.ReadFile(path)
	if err != nil {
		return m, fmt.Errorf("%w: reading item manifest: %v", ErrBadRequest, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, &ItemFileError{File: path, Field: "(document)", Reason: err.Error()}
	}
	base := filepath.Dir(path)
	for _, l := range []struct {
		name  string
		files []ItemFile
	}{{"pdfs", m.Pdfs}, {"originals", m.Originals}} {
		for i := range l.files {
			f := &l.files[i]
			if f.Path == "" {
				return m, &ItemFileError{File: path, Field: fmt.Sprintf("%s[%d].file", l.name, i), Reason: "missing: the file to copy"}
			}
			if !filepath.IsAbs(f.Path) {
				f.Path = filepath.Join(base, f.Path)
			}
			if err := checkItemFile(*f); err != nil {
				return m, &ItemFileError{File: path, Field: fmt.Sprintf("%s[%d].%s", l.name, i, err.field), Reason: err.reason}
			}
		}
	}
	return m, nil
}

type fieldError struct{ field, reason string }

// CheckItemFile checks the fields of f a host set (id, name, language,
// mimetype), not the file itself. The error is an *ItemFileError whose
// Field is the field's name.
func CheckItemFile(f ItemFile) error {
	if err := checkItemFile(f); err != nil {
		return &ItemFileError{Field: err.field, Reason: err.reason}
	}
	return nil
}

// checkItemFile checks the fields a host set (not the file itself).
func checkItemFile(f ItemFile) *fieldError {
	if f.ID != "" && !validID(f.ID) {
		return &fieldError{"id", fmt.Sprintf("%q is not a Docspell id (letters, digits and -_.@ only)", f.ID)}
	}
	if strings.ContainsAny(f.Name, "/\x00") {
		return &fieldError{"name", fmt.Sprintf("%q must be a file name, not a path", f.Name)}
	}
	if f.Language != "" && !validLanguage(f.Language) {
		return &fieldError{"language", fmt.Sprintf("%q is not an ISO 639-3 code such as \"deu\" or \"eng\"", f.Language)}
	}
	if f.Mimetype != "" {
		if _, _, err := mime.ParseMediaType(f.Mimetype); err != nil || !strings.Contains(f.Mimetype, "/") {
			return &fieldError{"mimetype", fmt.Sprintf("%q is not a media type such as \"application/pdf\"", f.Mimetype)}
		}
	}
	return nil
}

// validID reports whether s is a Docspell Ident: letters, digits and
// "-_.@" (modules/common/src/main/scala/docspell/common/Ident.scala:43),
// and usable as a file name.
func validID(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !idChar(r) {
			return false
		}
	}
	return true
}

func idChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.@", r)
}

func validLanguage(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, r := range s {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

// DeriveItemID is the attachment id berth gives a file the host named no
// id for: its name without the extension, with every character a Docspell
// id cannot hold replaced by "_" ("Scan 1.pdf" becomes "Scan_1"), so that
// a PDF and its original with the same base name share one id, as in
// Docspell. A name left with nothing usable becomes "attachment".
func DeriveItemID(name string) string {
	stem := strings.TrimSuffix(name, filepath.Ext(name))
	var b strings.Builder
	for _, r := range stem {
		if idChar(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	id := strings.Trim(b.String(), ".")
	if strings.Trim(id, "_") == "" {
		return "attachment"
	}
	return id
}

// attachedFile is an entry of item/pdf-files.json and
// item/source-files.json, Docspell's AttachedFile
// (modules/store/src/main/scala/docspell/store/queries/AttachedFile.scala:17-25):
// name and language are null when unknown, length is in bytes, checksum
// is the SHA-256 of the content in base64 (BaseJsonCodecs.scala:22-23).
type attachedFile struct {
	ID       string  `json:"id"`
	Name     *string `json:"name"`
	Position int     `json:"position"`
	Language *string `json:"language"`
	Mimetype string  `json:"mimetype"`
	Length   int64   `json:"length"`
	Checksum string  `json:"checksum"`
}

// itemFiles resolves the files of one list: the explicit ones, then every
// regular file of dir sorted by name; ids derived where none is given and
// made unique within the list. derived lists those, as `id (name)`.
func itemFiles(list string, explicit []ItemFile, dir string) (files []ItemFile, derived []string, err error) {
	files = slices.Clone(explicit)
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: item %s: %v", ErrBadRequest, list, err)
		}
		for _, en := range entries {
			if en.Type().IsRegular() {
				files = append(files, ItemFile{Path: filepath.Join(dir, en.Name())})
			}
		}
	}
	seen := map[string]bool{}
	for i := range files {
		f := &files[i]
		if err := checkItemFile(*f); err != nil {
			return nil, nil, &ItemFileError{Field: fmt.Sprintf("%s[%d].%s", list, i, err.field), Reason: err.reason}
		}
		if f.Name == "" {
			f.Name = filepath.Base(f.Path)
		}
		if f.ID != "" {
			if seen[f.ID] {
				return nil, nil, &ItemFileError{Field: fmt.Sprintf("%s[%d].id", list, i), Reason: fmt.Sprintf("%q is given twice", f.ID)}
			}
			seen[f.ID] = true
		}
	}
	// Derived ids come second, so that they never take an id the host
	// gave explicitly.
	for i := range files {
		f := &files[i]
		if f.ID != "" {
			continue
		}
		base := DeriveItemID(f.Name)
		id := base
		for n := 2; seen[id]; n++ {
			id = base + "-" + strconv.Itoa(n)
		}
		f.ID, seen[id] = id, true
		derived = append(derived, fmt.Sprintf("%s (%s)", id, f.Name))
	}
	return files, derived, nil
}

// writeItemFiles copies files into dir under their ids and writes their
// list to listFile.
func writeItemFiles(list string, files []ItemFile, dir, listFile string) error {
	out := make([]attachedFile, 0, len(files))
	for i, f := range files {
		af, err := copyItemFile(f, filepath.Join(dir, f.ID))
		if err != nil {
			var ife *ItemFileError
			if errors.As(err, &ife) {
				ife.Field = fmt.Sprintf("%s[%d].%s", list, i, ife.Field)
			}
			return err
		}
		af.Position = i
		out = append(out, af)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	return os.WriteFile(listFile, b, 0o644)
}

func copyItemFile(f ItemFile, dst string) (attachedFile, error) {
	af := attachedFile{ID: f.ID, Name: &f.Name}
	if f.Language != "" {
		af.Language = &f.Language
	}
	src, err := os.Open(f.Path)
	if err != nil {
		return af, &ItemFileError{Field: "file", Reason: err.Error()}
	}
	defer src.Close()
	if st, err := src.Stat(); err != nil || !st.Mode().IsRegular() {
		return af, &ItemFileError{Field: "file", Reason: fmt.Sprintf("%s is not a regular file", f.Path)}
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return af, fmt.Errorf("copying item file: %w", err)
	}
	// The first 3 KiB are what mimetype reads by default.
	head := &prefixBuffer{limit: 3072}
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, sum, head), src)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return af, fmt.Errorf("copying item file %s: %w", f.Path, err)
	}
	af.Length = n
	af.Checksum = base64.StdEncoding.EncodeToString(sum.Sum(nil))
	af.Mimetype = f.Mimetype
	if af.Mimetype == "" {
		af.Mimetype = docspellMimetype(mimetype.Detect(head.b).String())
	}
	return af, nil
}

// docspellMimetype writes a media type as Docspell's MimeType.asString
// does: `primary/sub`, and a charset as `; charset="UTF-8"`
// (modules/common/src/main/scala/docspell/common/MimeType.scala:40-46).
func docspellMimetype(s string) string {
	mt, params, err := mime.ParseMediaType(s)
	if err != nil {
		return s
	}
	if cs := params["charset"]; cs != "" {
		return fmt.Sprintf("%s; charset=%q", mt, strings.ToUpper(cs))
	}
	return mt
}

// prefixBuffer keeps the first limit bytes written to it.
type prefixBuffer struct {
	b     []byte
	limit int
}

func (p *prefixBuffer) Write(b []byte) (int, error) {
	if room := p.limit - len(p.b); room > 0 {
		p.b = append(p.b, b[:min(room, len(b))]...)
	}
	return len(b), nil
}

// ParseItemFileFlag reads the value of `--item-pdf` / `--item-original`:
// "PATH" or "ID=PATH". The part before the first "=" is taken as the id
// only when it is a valid id; so "./a=b.pdf" (a "/" is never in an id) is
// a path.
func ParseItemFileFlag(s string) ItemFile {
	if id, p, ok := strings.Cut(s, "="); ok && validID(id) && p != "" {
		return ItemFile{ID: id, Path: p}
	}
	return ItemFile{Path: s}
}
