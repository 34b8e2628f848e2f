package output

import (
	"bytes"
	"encoding/json"
	"github.com/berth-dev/berth/internal/memtest"
	"strings"
	"testing"
)

// hostileStdout builds a stdout of about size bytes: prefix, then item
// repeated with commas, then suffix.
func hostileStdout(size int, prefix, item, suffix string) []byte {
	n := (size - len(prefix) - len(suffix)) / (len(item) + 1)
	var b bytes.Buffer
	b.Grow(size)
	b.WriteString(prefix)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(item)
	}
	b.WriteString(suffix)
	return b.Bytes()
}

// BenchmarkDecodeHostile is issue 18's 16 MiB stdout (the default output
// cap), three ways: small values Docspell's schema refuses at the first
// element, small values under a key nobody reads, and a valid output of
// 200,000 commands. The baseline decodes the same bytes into generic
// values, which is what Decode did before checking the schema.
func BenchmarkDecodeHostile(b *testing.B) {
	const size = 16 << 20
	cmd := `{"command":"item-update","itemId":"item-1","actions":[{"action":"add-tags","tags":["t1"]}]}`
	inputs := []struct {
		name  string
		data  []byte
		valid bool
	}{
		{"empty objects in commands", hostileStdout(size, `{"commands":[`, `{}`, `]}`), false},
		{"zeros under an unknown key", hostileStdout(size, `{"x":[`, `0`, `]}`), true},
		{"valid commands", hostileStdout(size, `{"commands":[`, cmd, `]}`), true},
	}
	for _, in := range inputs {
		for _, bc := range []struct {
			name string
			run  func() error
		}{
			{"baseline json into any", func() error {
				d := json.NewDecoder(bytes.NewReader(in.data))
				d.UseNumber()
				var v any
				return d.Decode(&v)
			}},
			{"Decode", func() error {
				_, err := Decode(in.data)
				if (err == nil) != in.valid {
					return err
				}
				return nil
			}},
		} {
			b.Run(strings.ReplaceAll(in.name, " ", "_")+"/"+bc.name, func(b *testing.B) {
				b.SetBytes(int64(len(in.data)))
				b.ReportAllocs()
				var peak uint64
				for b.Loop() {
					var err error
					peak = max(peak, memtest.PeakHeap(func() { err = bc.run() }))
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			})
		}
	}
}
