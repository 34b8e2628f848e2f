package output

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzDecode checks that Decode never panics, fails only with a
// *DecodeError, and that whatever it accepts marshals to JSON it accepts
// again unchanged. `go test` runs only the seed corpus; fuzz with
// `go test -run='^$' -fuzz=FuzzDecode ./output/`.
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"valid", "invalid"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	for _, s := range []string{"", " ", "Hello", "{}{}", "{} x", "[]", "null", `{"commands":[{"command":"item-update","itemId":"i","actions":[{"action":"set-date","date":"1e18"}]}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, stdout []byte) {
		out, err := Decode(stdout)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is %T, not *DecodeError", err, err)
			}
			return
		}
		b, err := json.Marshal(out)
		if err != nil {
			t.Fatalf("cannot marshal a decoded output: %v", err)
		}
		again, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode rejects its own marshalled output %s: %v", b, err)
		}
		if !reflect.DeepEqual(out, again) {
			t.Fatalf("round trip changed the output:\n%#v\n%#v", out, again)
		}
	})
}
