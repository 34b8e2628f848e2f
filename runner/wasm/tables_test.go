package wasm

import (
	"strings"
	"testing"
)

func TestLimitTablesBoundsEveryTable(t *testing.T) {
	// header, then a table section with the given entries.
	mod := func(tables ...byte) []byte {
		m := []byte("\x00asm\x01\x00\x00\x00")
		return append(append(m, 0x04, byte(len(tables))), tables...)
	}
	tests := []struct {
		name     string
		in, want []byte
		limit    uint64
		err      string
	}{
		{"a table without a maximum gets one", mod(0x01, 0x70, 0x00, 0x01), mod(0x01, 0x70, 0x01, 0x01, 0x80, 0x80, 0x40), 64 << 20, ""},
		{"a smaller declared maximum is kept", mod(0x01, 0x70, 0x01, 0x01, 0x05), mod(0x01, 0x70, 0x01, 0x01, 0x05), 64 << 20, ""},
		{"a larger declared maximum is lowered", mod(0x01, 0x6f, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f), mod(0x01, 0x6f, 0x01, 0x00, 0x80, 0x80, 0x40), 64 << 20, ""},
		{"tables over the limit are refused", mod(0x02, 0x70, 0x00, 0x00, 0x70, 0x00, 0x00), nil, 8 << 20, "its tables may hold 16777216 bytes, over the limit of 8388608"},
		{"a huge minimum is refused", mod(0x01, 0x70, 0x00, 0x80, 0x80, 0x80, 0x40), nil, 64 << 20, "over the limit"},
		{"a shared table is refused", mod(0x01, 0x70, 0x03, 0x01, 0x01), nil, 64 << 20, "limits flag 0x3"},
		{"a truncated table section is refused", mod(0x02, 0x70, 0x00, 0x01), nil, 64 << 20, "table section cannot be read"},
		{"bytes that are not wasm are left to wazero", []byte("#!/bin/sh\n"), []byte("#!/bin/sh\n"), 64 << 20, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := limitTables("m.wasm", tt.in, tt.limit)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "m.wasm: ") {
					t.Fatalf("err = %v, want one naming m.wasm and saying %q", err, tt.err)
				}
				return
			}
			if err != nil || string(got) != string(tt.want) {
				t.Fatalf("got % x, %v; want % x", got, err, tt.want)
			}
		})
	}
}
