package addon

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// archive/zip reads the whole central directory into memory before
// Unzip can look at the entry count (a *zip.File of about 200 bytes per
// entry, plus names), and preallocates the count the archive claims. A
// 64 MiB zip of empty entries thus costs hundreds of MiB. checkZipDirectory
// reads the directory the way archive/zip does (reader.go, readDirectoryEnd
// and Reader.init), streaming, without keeping anything, and refuses an
// archive with more entries than allowed before archive/zip sees it.

const (
	sigDirEnd     = 0x06054b50
	sigDir64End   = 0x06064b50
	sigDir64Loc   = 0x07064b50
	sigDirHeader  = 0x02014b50
	dirEndLen     = 22
	dir64LocLen   = 20
	dir64EndLen   = 56
	dirHeaderLen  = 46
	maxDirEndScan = 65 * 1024
)

// errNotZip means the tail holds no end of central directory record:
// archive/zip then reports the format error itself.
var errNotZip = errors.New("no end of central directory")

// checkZipDirectory returns a *SourceError when the archive in r (size
// bytes) claims or holds more than maxEntries central directory entries.
// Malformed archives pass: archive/zip refuses them with its own error.
func checkZipDirectory(src string, r io.ReaderAt, size int64, maxEntries int) error {
	start, claimed, err := zipDirectoryStart(r, size)
	if err != nil {
		return nil
	}
	tooMany := func(n string) error {
		return &SourceError{Source: src, Reason: fmt.Sprintf("archive has %s entries, more than the limit of %d", n, maxEntries)}
	}
	if claimed > uint64(maxEntries) && (maxEntries < 0xffff || claimed != 0xffff) {
		return tooMany(fmt.Sprint(claimed))
	}
	br := bufio.NewReaderSize(io.NewSectionReader(r, start, size-start), 64<<10)
	var h [dirHeaderLen]byte
	n := 0
	for {
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return nil
		}
		if binary.LittleEndian.Uint32(h[:4]) != sigDirHeader {
			return nil
		}
		if n++; n > maxEntries {
			return tooMany("more than " + fmt.Sprint(maxEntries))
		}
		skip := int64(binary.LittleEndian.Uint16(h[28:])) + int64(binary.LittleEndian.Uint16(h[30:])) + int64(binary.LittleEndian.Uint16(h[32:]))
		if _, err := br.Discard(int(skip)); err != nil {
			return nil
		}
	}
}

// zipDirectoryStart finds where archive/zip starts reading directory
// headers and the entry count the archive claims.
func zipDirectoryStart(r io.ReaderAt, size int64) (start int64, claimed uint64, err error) {
	n := min(size, maxDirEndScan)
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, size-n); err != nil && err != io.EOF {
		return 0, 0, err
	}
	p := -1
	for i := len(buf) - dirEndLen; i >= 0; i-- {
		// as archive/zip's findSignatureInBlock: the comment must fit
		if binary.LittleEndian.Uint32(buf[i:]) == sigDirEnd && i+dirEndLen+int(binary.LittleEndian.Uint16(buf[i+20:])) <= len(buf) {
			p = i
			break
		}
	}
	if p < 0 {
		return 0, 0, errNotZip
	}
	endOff := size - n + int64(p)
	b := buf[p:]
	claimed = uint64(binary.LittleEndian.Uint16(b[10:]))
	dirSize := uint64(binary.LittleEndian.Uint32(b[12:]))
	dirOff := uint64(binary.LittleEndian.Uint32(b[16:]))
	if claimed == 0xffff || dirSize == 0xffff || dirOff == 0xffffffff {
		if e64, c, s, o, ok := readZip64End(r, endOff); ok {
			endOff, claimed, dirSize, dirOff = e64, c, s, o
		}
	}
	if dirSize > 1<<62 || dirOff > 1<<62 {
		return 0, 0, errNotZip
	}
	base := endOff - int64(dirSize) - int64(dirOff)
	start = base + int64(dirOff)
	if start < 0 || start >= size {
		return 0, 0, errNotZip
	}
	if base > 0 {
		// archive/zip takes a base of 0 when a header starts at dirOff
		var sig [4]byte
		if _, err := r.ReadAt(sig[:], int64(dirOff)); err == nil && binary.LittleEndian.Uint32(sig[:]) == sigDirHeader {
			start = int64(dirOff)
		}
	}
	return start, claimed, nil
}

func readZip64End(r io.ReaderAt, endOff int64) (off int64, records, dirSize, dirOff uint64, ok bool) {
	locOff := endOff - dir64LocLen
	if locOff < 0 {
		return 0, 0, 0, 0, false
	}
	var loc [dir64LocLen]byte
	if _, err := r.ReadAt(loc[:], locOff); err != nil || binary.LittleEndian.Uint32(loc[:]) != sigDir64Loc {
		return 0, 0, 0, 0, false
	}
	p := binary.LittleEndian.Uint64(loc[8:])
	if p > 1<<62 {
		return 0, 0, 0, 0, false
	}
	var e [dir64EndLen]byte
	if _, err := r.ReadAt(e[:], int64(p)); err != nil || binary.LittleEndian.Uint32(e[:]) != sigDir64End {
		return 0, 0, 0, 0, false
	}
	return int64(p), binary.LittleEndian.Uint64(e[32:]), binary.LittleEndian.Uint64(e[40:]), binary.LittleEndian.Uint64(e[48:]), true
}
