package server

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

func TestLineBufferKeepsTheLastLinesInOrder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		max     int
		writes  []string
		want    []string
		dropped int
	}{
		{"fewer lines than the cap", 3, []string{"a\nb\n"}, []string{"a", "b"}, 0},
		{"exactly the cap", 2, []string{"a\nb\n"}, []string{"a", "b"}, 0},
		{"more lines than the cap, wrapping twice", 2, []string{"1\n2\n3\n4\n5\n"}, []string{"4", "5"}, 3},
		{"lines split across writes", 3, []string{"he", "llo\nwor", "ld\r\n", "tail"}, []string{"hello", "world", "tail"}, 0},
		{"a partial line after a wrap", 2, []string{"1\n2\n3\n", "x"}, []string{"2", "3", "x"}, 1},
		{"an empty line counts", 2, []string{"\n\n\n"}, []string{"", ""}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newLineBuffer(tc.max)
			for _, w := range tc.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			got := b.snapshot()
			if strings.Join(got.Lines, "|") != strings.Join(tc.want, "|") || got.Dropped != tc.dropped {
				t.Fatalf("snapshot = %q dropped %d, want %q dropped %d", got.Lines, got.Dropped, tc.want, tc.dropped)
			}
		})
	}
	t.Run("a line longer than 4096 bytes is cut", func(t *testing.T) {
		b := newLineBuffer(2)
		b.Write([]byte(strings.Repeat("x", 5000) + "\n"))
		if l := b.snapshot().Lines[0]; len(l) != 4096+len("…") {
			t.Fatalf("kept %d bytes of a 5000-byte line", len(l))
		}
	})
}

// The issue: a stderr flood of 200,000 lines cost O(lines × log-lines):
// each line over the cap copied the whole kept slice (1000 strings,
// 16 KB), about 3 GB of garbage for the flood. With a ring a line costs
// its own bytes, whatever the cap. Bytes allocated are counted, not time.
func TestAStderrFloodCostsTheSamePerLineWhateverTheCap(t *testing.T) {
	const lines = 200_000
	line := []byte("warning: the addon says something on every line\n")
	perLine := func(max int) float64 {
		b := newLineBuffer(max)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range lines {
			b.Write(line)
		}
		runtime.ReadMemStats(&after)
		if got := b.snapshot(); len(got.Lines) != max || got.Dropped != lines-max {
			t.Fatalf("cap %d: kept %d lines, dropped %d", max, len(got.Lines), got.Dropped)
		}
		return float64(after.TotalAlloc-before.TotalAlloc) / lines
	}
	small, large := perLine(100), perLine(10_000)
	t.Logf("bytes allocated per line: %.0f with 100 lines kept, %.0f with 10,000 kept", small, large)
	// A line is 49 bytes; its string takes 64. Copying the kept lines
	// would cost 16 bytes per kept line per line (160,000 with 10,000).
	if large > 4*small+256 {
		t.Fatalf("a line costs %.0f bytes with 10,000 lines kept and %.0f with 100: the cost grows with the cap", large, small)
	}
}

// BenchmarkLineBuffer writes a flood of lines with caps of 1000 and
// 100,000 lines; the time per line should not depend on the cap.
//
//	go test -run '^$' -bench BenchmarkLineBuffer ./server/
func BenchmarkLineBuffer(b *testing.B) {
	line := []byte("warning: the addon says something on every line\n")
	for _, max := range []int{1000, 100_000} {
		b.Run(fmt.Sprintf("cap=%d", max), func(b *testing.B) {
			buf := newLineBuffer(max)
			for range 2 * max {
				buf.Write(line)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				buf.Write(line)
			}
		})
	}
}
