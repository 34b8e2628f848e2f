package wasm

import (
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// memoryLimit is a wazero memory allocator that refuses to grow a
// module's linear memory past limit bytes and remembers that it did, so
// that a module that then fails is reported out of memory rather than
// merely failed. (wazero's WithMemoryLimitPages refuses a grow before any
// allocator sees it, so it could not tell; it also rejects at compile
// time a module that declares a larger maximum than it will ever use.)
type memoryLimit struct {
	limit   uint64
	refused atomic.Bool
}

// Allocate implements experimental.MemoryAllocator.
func (m *memoryLimit) Allocate(capacity, _ uint64) experimental.LinearMemory {
	return &limitedMemory{owner: m, buf: make([]byte, 0, min(capacity, m.limit))}
}

type limitedMemory struct {
	owner *memoryLimit
	buf   []byte
}

// Reallocate implements experimental.LinearMemory. Like wazero's own
// memory it grows a Go slice; bytes past the old length are zero because
// linear memory never shrinks.
func (l *limitedMemory) Reallocate(size uint64) []byte {
	if size > l.owner.limit {
		l.owner.refused.Store(true)
		return nil
	}
	if size <= uint64(cap(l.buf)) {
		l.buf = l.buf[:size]
		return l.buf
	}
	grown := make([]byte, size, min(max(size, 2*uint64(cap(l.buf))), l.owner.limit))
	copy(grown, l.buf)
	l.buf = grown
	return l.buf
}

// Free implements experimental.LinearMemory.
func (l *limitedMemory) Free() { l.buf = nil }
