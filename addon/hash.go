package addon

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// contentHashVersion starts every hashed stream, so a change of the format
// below changes every hash instead of silently colliding with old ones.
const contentHashVersion = "berth content hash v1\x00"

// ContentHash returns a stable hex sha256 over the relative paths, exec bits
// and contents of every regular file, and the targets of every symlink,
// under dir, in sorted path order. Only a top-level .git directory is
// skipped. Other permission bits, owners, times and empty directories do not
// count: they differ between checkouts of the same addon. Symlinks are not
// followed. The first 12 hex characters are enough for image tags.
func ContentHash(dir string) (string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", fmt.Errorf("hashing addon directory: %w", err)
	}
	defer root.Close()
	fsys := root.FS()

	type item struct {
		path string
		mode fs.FileMode
	}
	var items []item
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		t := d.Type()
		switch {
		case p == ".":
			return nil
		case t.IsDir() && p == ".git":
			return fs.SkipDir
		case t.IsDir():
			return nil
		case t&fs.ModeSymlink != 0:
			items = append(items, item{p, t})
		case t.IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			items = append(items, item{p, info.Mode()})
		default:
			return fmt.Errorf("%s: unsupported file type %s", p, t)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hashing addon directory %s: %w", dir, err)
	}
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.path, b.path) })

	h := sha256.New()
	io.WriteString(h, contentHashVersion)
	buf := make([]byte, 64<<10)
	for _, it := range items {
		if it.mode&fs.ModeSymlink != 0 {
			target, err := fs.ReadLink(fsys, it.path)
			if err != nil {
				return "", fmt.Errorf("hashing addon directory %s: %w", dir, err)
			}
			h.Write([]byte{'l'})
			hashField(h, it.path)
			hashField(h, target)
			continue
		}
		sum, err := fileSHA256(fsys, it.path, buf)
		if err != nil {
			return "", fmt.Errorf("hashing addon directory %s: %w", dir, err)
		}
		kind := byte('f')
		if it.mode&0o111 != 0 {
			kind = 'x'
		}
		h.Write([]byte{kind})
		hashField(h, it.path)
		h.Write(sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashField writes s length-prefixed, so no two different sequences of
// fields write the same bytes.
func hashField(h hash.Hash, s string) {
	h.Write(binary.AppendUvarint(nil, uint64(len(s))))
	io.WriteString(h, s)
}

// fileSHA256 hashes one file, reusing buf (io.Copy would allocate 32 KiB
// per file through os.File's WriteTo).
func fileSHA256(fsys fs.FS, name string, buf []byte) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, buf); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
