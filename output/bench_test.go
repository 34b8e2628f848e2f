package output

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"
)

// BenchmarkDecode compares Decode with its floor: encoding/json parsing
// the same stdout into generic values, which Decode does before checking
// Docspell's rules. The difference is the cost of validation.
func BenchmarkDecode(b *testing.B) {
	stdout := readFixture(b, filepath.Join("valid", "docspell-docs-example.json"))
	b.Run("baseline json.Unmarshal into any", func(b *testing.B) {
		b.SetBytes(int64(len(stdout)))
		b.ReportAllocs()
		for b.Loop() {
			d := json.NewDecoder(bytes.NewReader(stdout))
			d.UseNumber()
			var v any
			if err := d.Decode(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decode", func(b *testing.B) {
		b.SetBytes(int64(len(stdout)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Decode(stdout); err != nil {
				b.Fatal(err)
			}
		}
	})
}
