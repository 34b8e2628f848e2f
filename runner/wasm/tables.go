package wasm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// tableEntryBytes is what one table entry costs in berth's heap: wazero
// keeps a table as a []uintptr.
const tableEntryBytes = 8

// maxTableGrowth is how far a table without a declared maximum may grow
// (1Mi entries, 8 MiB): plenty for indirect calls, which is what tables
// of compiled programs hold.
const maxTableGrowth = 1 << 20

// limitTables bounds the module's tables. Unlike linear memory, a table
// lives in berth's own heap and wazero has no allocator or limit for it:
// table.grow on a table without a maximum (Go's linker and wasm-ld with
// --growable-table declare none) could take up to 32 GiB. So every table
// gets a maximum of at most maxTableGrowth entries (or its minimum, when
// larger) written into the module's table section, which makes a grow
// past it fail as wasm specifies (table.grow returns -1), and a module
// whose tables may then hold more than limit bytes is refused. A module
// whose sections cannot be found is returned unchanged, for wazero to
// report; a table section berth cannot read is refused.
func limitTables(module string, data []byte, limit uint64) ([]byte, error) {
	hdr, start, end, ok := tableSection(data)
	if !ok {
		return data, nil
	}
	bad := fmt.Errorf("%s: its table section cannot be read", module)
	r := bytes.NewReader(data[start:end])
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, bad
	}
	sec := binary.AppendUvarint(nil, n)
	var total uint64
	for i := range n {
		ref, err1 := r.ReadByte()
		flag, err2 := r.ReadByte()
		if err := errors.Join(err1, err2); err != nil || (ref != 0x70 && ref != 0x6f) {
			return nil, bad
		}
		if flag > 1 {
			return nil, fmt.Errorf("%s: table %d has limits flag %#x (shared or 64-bit tables are not supported)", module, i, flag)
		}
		lo, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, bad
		}
		hi := uint64(max(maxTableGrowth, lo))
		if flag == 1 {
			declared, err := binary.ReadUvarint(r)
			if err != nil || declared < lo {
				return nil, bad
			}
			hi = min(hi, declared)
		}
		total += hi * tableEntryBytes
		sec = append(sec, ref, 1)
		sec = binary.AppendUvarint(sec, lo)
		sec = binary.AppendUvarint(sec, hi)
	}
	if r.Len() != 0 {
		return nil, bad
	}
	if total > limit {
		return nil, fmt.Errorf("%s: its tables may hold %d bytes, over the limit of %d (sandbox-limits.memory)", module, total, limit)
	}
	out := make([]byte, 0, len(data)+8*int(n))
	out = append(out, data[:hdr]...)
	out = append(out, 4)
	out = binary.AppendUvarint(out, uint64(len(sec)))
	out = append(out, sec...)
	return append(out, data[end:]...), nil
}

// tableSection finds the table section (id 4): where its header starts
// and the bounds of its contents.
func tableSection(data []byte) (hdr, start, end int, ok bool) {
	if len(data) < 8 || !bytes.Equal(data[:4], []byte("\x00asm")) {
		return 0, 0, 0, false
	}
	for i := 8; i < len(data); {
		id := data[i]
		size, n := binary.Uvarint(data[i+1:])
		if n <= 0 || size > uint64(len(data)-i-1-n) {
			return 0, 0, 0, false
		}
		start, end = i+1+n, i+1+n+int(size)
		if id == 4 {
			return i, start, end, true
		}
		i = end
	}
	return 0, 0, 0, false
}
