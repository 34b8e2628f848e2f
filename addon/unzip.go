package addon

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Unzip extracts the zip at zipPath into dst (which must exist), refusing
// hostile archives with a *SourceError: entries with absolute paths or ".."
// components, symlinks whose target leaves dst, unsupported file types, more
// than lim.MaxEntries entries and more than lim.MaxBytes uncompressed bytes.
//
// Every write goes through an os.Root opened on dst, so nothing can land
// outside it whatever the checks miss. Existing files are never
// overwritten. On any error everything Unzip created is removed again.
//
// Permission bits stored in the zip are kept (setuid, setgid and sticky are
// dropped; directories always stay owner-writable so they can be filled and
// removed); entries without Unix modes get 0644 (files) and 0755
// (directories).
func Unzip(ctx context.Context, zipPath, dst string, lim Limits) error {
	lim = lim.orDefaults()
	f, err := os.Open(zipPath)
	if err != nil {
		return &SourceError{Source: zipPath, Reason: "is not a readable zip archive", Err: err}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return &SourceError{Source: zipPath, Reason: "is not a readable zip archive", Err: err}
	}
	// Count the entries before archive/zip holds them all in memory.
	if err := checkZipDirectory(zipPath, f, fi.Size(), lim.MaxEntries); err != nil {
		return err
	}
	zr, err := zip.NewReader(f, fi.Size())
	// ErrInsecurePath only says some name is not local; the checks below
	// refuse those with a message naming the entry.
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return &SourceError{Source: zipPath, Reason: "is not a readable zip archive", Err: err}
	}

	entries, err := planZip(zipPath, zr.File, lim)
	if err != nil {
		return err
	}

	root, err := os.OpenRoot(dst)
	if err != nil {
		return fmt.Errorf("unzipping %s: %w", zipPath, err)
	}
	defer root.Close()

	x := &zipExtractor{
		ctx:       ctx,
		src:       zipPath,
		root:      root,
		dirModes:  map[string]fs.FileMode{},
		remaining: lim.MaxBytes,
		maxBytes:  lim.MaxBytes,
	}
	if err := x.extract(entries); err != nil {
		x.undo()
		return err
	}
	return nil
}

// extract creates entries in order, then checks the symlinks and sets
// directory modes; the caller undoes everything on error.
func (x *zipExtractor) extract(entries []zipEntry) error {
	for _, e := range entries {
		if err := x.ctx.Err(); err != nil {
			return fmt.Errorf("unzipping %s: %w", x.src, err)
		}
		var err error
		switch e.kind {
		case zipDir:
			err = x.dir(e)
		case zipSymlink:
			err = x.symlink(e)
		default:
			err = x.file(e)
		}
		if err != nil {
			return err
		}
	}
	if err := x.checkLinks(); err != nil {
		return err
	}
	return x.applyDirModes()
}

type zipEntryKind int

const (
	zipFile zipEntryKind = iota
	zipDir
	zipSymlink
)

// zipEntry is an archive entry that passed the checks made before
// extraction.
type zipEntry struct {
	f    *zip.File
	name string // cleaned, slash-separated and local
	kind zipEntryKind
	perm fs.FileMode
}

// planZip checks names, types, the entry count and the sizes the headers
// claim, so that most hostile archives are refused before anything is
// written.
func planZip(src string, files []*zip.File, lim Limits) ([]zipEntry, error) {
	if len(files) > lim.MaxEntries {
		return nil, &SourceError{Source: src, Reason: fmt.Sprintf("archive has %d entries, more than the limit of %d", len(files), lim.MaxEntries)}
	}
	var declared uint64
	entries := make([]zipEntry, 0, len(files))
	for _, f := range files {
		name, reason := cleanZipName(f.Name)
		if reason != "" {
			return nil, &SourceError{Source: src, Entry: f.Name, Reason: reason}
		}
		if name == "" {
			continue // "./" and the like: the target itself
		}
		mode := f.Mode()
		e := zipEntry{f: f, name: name}
		switch {
		case mode.IsDir() || strings.HasSuffix(f.Name, "/"):
			e.kind, e.perm = zipDir, zipPerm(f, 0o755)|0o700
		case mode&fs.ModeSymlink != 0:
			e.kind = zipSymlink
		case mode.IsRegular():
			e.kind, e.perm = zipFile, zipPerm(f, 0o644)
		default:
			return nil, &SourceError{Source: src, Entry: f.Name, Reason: fmt.Sprintf("unsupported file type %s", mode.Type())}
		}
		declared += f.UncompressedSize64
		if declared > uint64(lim.MaxBytes) {
			return nil, &SourceError{Source: src, Entry: f.Name, Reason: zipTooLarge(lim.MaxBytes)}
		}
		entries = append(entries, e)
	}
	return entries, nil
}

func zipTooLarge(max int64) string {
	return fmt.Sprintf("archive expands to more than the limit of %d bytes", max)
}

// cleanZipName returns the entry's name cleaned, or why it is refused. An
// empty name with no reason means the entry names the target itself.
func cleanZipName(raw string) (name, reason string) {
	// Zips made on Windows sometimes use backslashes; treat them as
	// separators so that "..\evil" is caught too.
	n := strings.ReplaceAll(raw, `\`, "/")
	switch {
	case n == "":
		return "", "has an empty name"
	case strings.ContainsRune(n, 0):
		return "", "has a NUL byte in its name"
	case path.IsAbs(n) || windowsDrive(n):
		return "", "absolute paths are not allowed"
	}
	for _, seg := range strings.Split(n, "/") {
		if seg == ".." {
			return "", "path escapes the target directory"
		}
	}
	n = path.Clean(n)
	if n == "." {
		return "", ""
	}
	if !filepath.IsLocal(n) {
		return "", "path escapes the target directory"
	}
	return n, ""
}

// windowsDrive reports whether n starts with a drive letter ("C:" or
// "C:/..."), which Windows tools would treat as absolute.
func windowsDrive(n string) bool {
	if len(n) < 2 || n[1] != ':' {
		return false
	}
	c := n[0] | 0x20
	return 'a' <= c && c <= 'z' && (len(n) == 2 || n[2] == '/')
}

// zipPerm returns the permission bits stored in the zip, or def when the
// archive carries no Unix modes (made on Windows, or by tools that store
// none).
func zipPerm(f *zip.File, def fs.FileMode) fs.FileMode {
	const creatorUnix, creatorMacOSX = 3, 19
	switch f.CreatorVersion >> 8 {
	case creatorUnix, creatorMacOSX:
		if perm := f.Mode().Perm(); perm != 0 {
			return perm
		}
	}
	return def
}

type zipExtractor struct {
	ctx       context.Context
	src       string
	root      *os.Root
	created   []string               // in creation order, undone in reverse
	dirModes  map[string]fs.FileMode // directories created here, chmod'ed last
	links     []string               // symlinks created here, checked last
	remaining int64                  // uncompressed bytes still allowed
	maxBytes  int64
}

func (x *zipExtractor) refuse(e zipEntry, reason string, err error) error {
	return &SourceError{Source: x.src, Entry: e.f.Name, Reason: reason, Err: err}
}

// mkdirs creates dir and its missing parents inside the root, remembering
// which ones it made.
func (x *zipExtractor) mkdirs(e zipEntry, dir string) error {
	if dir == "." {
		return nil
	}
	parts := strings.Split(dir, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		fi, err := x.root.Lstat(p)
		switch {
		case err == nil && (fi.IsDir() || fi.Mode()&fs.ModeSymlink != 0):
			continue // a symlink is followed by the root, which keeps it inside
		case err == nil:
			return x.refuse(e, fmt.Sprintf("%q is not a directory", p), nil)
		case !errors.Is(err, fs.ErrNotExist):
			return x.refuse(e, "cannot create its directory", err)
		}
		if err := x.root.Mkdir(p, 0o700); err != nil {
			return x.refuse(e, "cannot create its directory", err)
		}
		x.created = append(x.created, p)
		x.dirModes[p] = 0o755
	}
	return nil
}

func (x *zipExtractor) dir(e zipEntry) error {
	if err := x.mkdirs(e, e.name); err != nil {
		return err
	}
	if _, ok := x.dirModes[e.name]; ok {
		x.dirModes[e.name] = e.perm
	}
	return nil
}

func (x *zipExtractor) file(e zipEntry) error {
	if err := x.mkdirs(e, path.Dir(e.name)); err != nil {
		return err
	}
	rc, err := e.f.Open()
	if err != nil {
		return x.refuse(e, "cannot be read", err)
	}
	defer rc.Close()
	// O_EXCL: never overwrite, and never write through a symlink planted by
	// an earlier entry.
	out, err := x.root.OpenFile(e.name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return x.refuse(e, "already exists (duplicate entry?)", nil)
	}
	if err != nil {
		return x.refuse(e, "cannot be created", err)
	}
	x.created = append(x.created, e.name)
	in := &zipEntryReader{ctx: x.ctx, r: rc}
	// One byte more than the budget tells "exactly at the limit" from "over".
	n, err := io.Copy(out, io.LimitReader(in, x.remaining+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	switch {
	case n > x.remaining:
		return x.refuse(e, zipTooLarge(x.maxBytes), nil)
	case in.err != nil && x.ctx.Err() != nil:
		return fmt.Errorf("unzipping %s: %w", x.src, x.ctx.Err())
	case in.err != nil:
		return x.refuse(e, "is corrupt", in.err)
	case err != nil:
		return fmt.Errorf("unzipping %s: writing %s: %w", x.src, e.name, err)
	}
	x.remaining -= n
	if err := x.root.Chmod(e.name, e.perm); err != nil {
		return fmt.Errorf("unzipping %s: %w", x.src, err)
	}
	return nil
}

// maxLinkTarget bounds how much of a symlink entry is read as its target.
const maxLinkTarget = 4096

func (x *zipExtractor) symlink(e zipEntry) error {
	rc, err := e.f.Open()
	if err != nil {
		return x.refuse(e, "cannot be read", err)
	}
	data, err := io.ReadAll(io.LimitReader(rc, maxLinkTarget+1))
	rc.Close()
	if err != nil {
		return x.refuse(e, "is corrupt", err)
	}
	target := string(data)
	switch {
	case len(data) > maxLinkTarget:
		return x.refuse(e, "symlink target is too long", nil)
	case target == "" || strings.ContainsRune(target, 0):
		return x.refuse(e, "symlink has an invalid target", nil)
	case path.IsAbs(target) || !filepath.IsLocal(path.Join(path.Dir(e.name), target)):
		return x.refuse(e, fmt.Sprintf("symlink target %q points outside the target directory", target), nil)
	}
	if int64(len(data)) > x.remaining {
		return x.refuse(e, zipTooLarge(x.maxBytes), nil)
	}
	x.remaining -= int64(len(data))
	if err := x.mkdirs(e, path.Dir(e.name)); err != nil {
		return err
	}
	if err := x.root.Symlink(target, e.name); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return x.refuse(e, "already exists (duplicate entry?)", nil)
		}
		return x.refuse(e, "cannot be created", err)
	}
	x.created = append(x.created, e.name)
	x.links = append(x.links, e.name)
	return nil
}

// checkLinks resolves every symlink the archive created, now that all of
// them exist: one link may be harmless on its own and escape through
// another ("a" -> "." and "a/b" -> "../x" both look local).
func (x *zipExtractor) checkLinks() error {
	for _, l := range x.links {
		if reason := linkEscapes(x.root, l); reason != "" {
			target, _ := x.root.Readlink(l)
			return &SourceError{Source: x.src, Entry: l, Reason: fmt.Sprintf("symlink target %q %s", target, reason)}
		}
	}
	return nil
}

// linkEscapes follows the symlink name inside root component by component
// and says why it leaves root, or "" when it stays inside. Missing
// components are taken lexically: whatever is created there later is
// created through the root.
func linkEscapes(root *os.Root, name string) string {
	var stack []string
	todo := strings.Split(name, "/")
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) == 0 {
				return "points outside the target directory"
			}
			stack = stack[:len(stack)-1]
			continue
		}
		p := strings.Join(append(stack, c), "/")
		fi, err := root.Lstat(p)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			stack = append(stack, c)
			continue
		}
		if hops++; hops > 40 {
			return "has too many levels of symbolic links"
		}
		t, err := root.Readlink(p)
		if err != nil {
			return "cannot be read"
		}
		if path.IsAbs(t) {
			return "points outside the target directory"
		}
		todo = append(strings.Split(t, "/"), todo...)
	}
	return ""
}

// applyDirModes sets the modes of the directories this extraction made,
// last, so that a read-only directory does not stop its own filling.
func (x *zipExtractor) applyDirModes() error {
	for d, m := range x.dirModes {
		if err := x.root.Chmod(d, m); err != nil {
			return fmt.Errorf("unzipping %s: %w", x.src, err)
		}
	}
	return nil
}

// undo removes what the extraction created, newest first.
func (x *zipExtractor) undo() {
	for i := len(x.created) - 1; i >= 0; i-- {
		_ = x.root.RemoveAll(x.created[i])
	}
}

// zipEntryReader stops a copy when ctx is cancelled and remembers read
// errors, so they can be told from write errors.
type zipEntryReader struct {
	ctx context.Context
	r   io.Reader
	err error
}

func (z *zipEntryReader) Read(p []byte) (int, error) {
	if err := z.ctx.Err(); err != nil {
		z.err = err
		return 0, err
	}
	n, err := z.r.Read(p)
	if err != nil && err != io.EOF {
		z.err = err
	}
	return n, err
}
