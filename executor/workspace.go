package executor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/berth-dev/berth/internal/beneath"
	"github.com/berth-dev/berth/internal/lazyregexp"
)

// workspace is one run's directories on the host.
type workspace struct {
	root   string // removed at the end; holds dir and, by default, output
	dir    string // WORK
	output string // OUTPUT_DIR
	cache  string // CACHE_DIR
	// warnings say where the item's layout differs from what joex writes.
	warnings []string
}

var unsafeKey = lazyregexp.New(`[^A-Za-z0-9._+-]+`)

// layout creates WORK with its fixed sub-directories, OUTPUT_DIR, the
// CACHE_DIR and the item input.
func (e *Executor) layout(req Request) (*workspace, error) {
	if e.WorkRoot == "" {
		return nil, fmt.Errorf("%w: no working directory configured", ErrBadRequest)
	}
	if err := checkRunEnv(req.Env); err != nil {
		return nil, err
	}
	// Everything is private to berth's user: WORK holds the documents the
	// addon processes, and whatever an addon leaves (a set-id program)
	// must be out of other local users' reach while the run lasts. A
	// container user other than berth's is given the run's directories
	// by the docker runner (chown), not by wider modes.
	if err := os.MkdirAll(e.WorkRoot, 0o700); err != nil {
		return nil, fmt.Errorf("creating working-dir: %w", err)
	}
	root, err := os.MkdirTemp(e.WorkRoot, "run-"+req.RunID+"-") // 0700
	if err != nil {
		return nil, fmt.Errorf("creating run directory: %w", err)
	}
	w := &workspace{root: root, dir: filepath.Join(root, "work"), output: filepath.Join(root, "output")}
	fail := func(err error) (*workspace, error) {
		_ = os.RemoveAll(root)
		return nil, err
	}
	for _, d := range []string{"", "addons", "arguments", "temp"} {
		if err := os.Mkdir(filepath.Join(w.dir, d), 0o700); err != nil {
			return fail(fmt.Errorf("creating working dir: %w", err))
		}
	}
	if err := os.Mkdir(w.output, 0o700); err != nil {
		return fail(fmt.Errorf("creating output dir: %w", err))
	}

	key := req.CacheKey
	if key == "" {
		names := make([]string, len(req.Steps))
		for i, s := range req.Steps {
			names[i] = s.Addon.Meta.Name
		}
		key = strings.Join(names, "+")
	}
	key = strings.Trim(unsafeKey().ReplaceAllString(key, "_"), ".")
	if key == "" {
		return fail(fmt.Errorf("%w: cache key %q has no usable characters", ErrBadRequest, req.CacheKey))
	}
	cacheRoot := e.CacheRoot
	if cacheRoot == "" {
		cacheRoot = filepath.Join(e.WorkRoot, "cache")
	}
	w.cache = filepath.Join(cacheRoot, key)
	if err := privateDir(cacheRoot, key); err != nil {
		return fail(fmt.Errorf("creating cache dir: %w", err))
	}
	if req.Item != nil {
		warnings, err := writeItem(filepath.Join(w.dir, "item"), req.Item)
		if err != nil {
			return fail(err)
		}
		w.warnings = warnings
	}
	return w, nil
}

// privateDir makes root (and its parents) and root/name directories
// private to their owner, creating what is missing. root/name must be a
// directory, not a link to one.
func privateDir(root, name string) error {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.Mkdir(name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	fi, err := r.Lstat(name)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory (%s)", filepath.Join(root, name), fi.Mode().Type())
	}
	// A cache made by an older berth was 0755.
	if fi.Mode().Perm()&0o077 != 0 {
		return r.Chmod(name, fi.Mode().Perm()&0o700)
	}
	return nil
}

func (w *workspace) cleanup(log *slog.Logger) {
	if err := os.RemoveAll(w.root); err != nil {
		log.Warn("removing run directory", "dir", w.root, "err", err)
	}
}

// writeItem fills item/ as Docspell's joex does: item-data.json,
// given-data.json when the host gave the upload's arguments, each
// attachment as pdfs/<id> and originals/<id>, and a JSON list of each
// (modules/joex/src/main/scala/docspell/joex/addon/GenericItemAddonTask.scala:94-128).
// The warnings name what differs from joex's layout: ids berth derived
// from file names, and attachments with a PDF but no original or the
// other way round (joex writes both for every attachment, :108-114).
func writeItem(dir string, it *Item) ([]string, error) {
	for _, d := range []string{"pdfs", "originals"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("creating item dir: %w", err)
		}
	}
	data := it.Data
	if len(data) == 0 {
		data = []byte("{}")
	}
	files := map[string][]byte{"item-data.json": data}
	// joex writes given-data.json only for an upload (it has the upload's
	// meta data only then, GenericItemAddonTask.scala:99-105) and sets
	// ITEM_ARGS_JSON regardless: an addon tells an upload by the file.
	if len(it.Args) > 0 {
		files["given-data.json"] = it.Args
	}
	for name, b := range files {
		if !json.Valid(b) {
			return nil, fmt.Errorf("%w: item %s is not valid JSON", ErrBadRequest, strings.TrimSuffix(name, ".json"))
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	var warnings []string
	ids := map[string][]string{}
	for _, c := range []struct {
		list     string
		explicit []ItemFile
		src      string
		sub      string
		json     string
	}{
		{"pdfs", it.Pdfs, it.PdfsDir, "pdfs", "pdf-files.json"},
		{"originals", it.Originals, it.OriginalsDir, "originals", "source-files.json"},
	} {
		files, derived, err := itemFiles(c.list, c.explicit, c.src)
		if err != nil {
			return nil, err
		}
		if lang := uploadLanguage(it.Args); lang != "" {
			for i := range files {
				if files[i].Language == "" {
					files[i].Language = lang
				}
			}
		}
		if err := writeItemFiles(c.list, files, filepath.Join(dir, c.sub), filepath.Join(dir, c.json)); err != nil {
			return nil, err
		}
		if len(derived) > 0 {
			warnings = append(warnings, fmt.Sprintf("item %s: ids derived from file names, as none was given (Docspell's are the attachments' own): %s", c.list, strings.Join(derived, ", ")))
		}
		for _, f := range files {
			ids[c.list] = append(ids[c.list], f.ID)
		}
	}
	var unpaired []string
	for _, p := range []struct{ list, other, what string }{
		{"pdfs", "originals", "a PDF but no original"},
		{"originals", "pdfs", "an original but no PDF"},
	} {
		for _, id := range ids[p.list] {
			if !slices.Contains(ids[p.other], id) {
				unpaired = append(unpaired, fmt.Sprintf("%s has %s", id, p.what))
			}
		}
	}
	if len(unpaired) > 0 {
		warnings = append(warnings, "item: "+strings.Join(unpaired, ", ")+" (joex writes both for every attachment; give both with one id)")
	}
	return warnings, nil
}

// uploadLanguage is the language of the upload's arguments
// (given-data.json), "" when none or not an ISO 639-3 code. joex extracts
// an upload's text in that language and stores it as each attachment's
// language (TextExtraction.scala:37, 93), which pdf-files.json and
// source-files.json list (QAttachment.scala:33-56): so an attachment the
// host gives no language gets the upload's.
func uploadLanguage(args []byte) string {
	var meta struct {
		Language string `json:"language"`
	}
	if len(args) == 0 || json.Unmarshal(args, &meta) != nil || !validLanguage(meta.Language) {
		return ""
	}
	return meta.Language
}

// listFiles returns the regular files under dir, relative, sorted. The
// walk follows no link, even one a leftover process swaps in.
func listFiles(dir string) ([]string, error) {
	var out []string
	err := beneath.Walk(dir, func(e *beneath.Entry) error {
		if e.IsRegular() {
			out = append(out, e.Path)
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}
