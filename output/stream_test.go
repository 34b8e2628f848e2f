package output

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeReadsTheStreamAsCirceReadsTheObject(t *testing.T) {
	tests := []struct {
		name, stdout string
		cmds         int
		err          string
	}{
		{"a repeated key keeps its last value, even after an invalid one", `{"commands":[1],"commands":[]}`, 0, ""},
		{"a repeated key's last invalid value is the error", `{"commands":[],"commands":[1]}`, 0, "output: commands[0]: must be a JSON object, got number 1"},
		{"keys nobody reads are skipped whatever they hold", `{"x":[[{"a":"]}\"["}]],"commands":[{"command":"item-update","itemId":"i","actions":[]}],"y":"}"}`, 1, ""},
		{"commands are checked before files whatever the key order", `{"files":[1],"commands":[2]}`, 0, "output: commands[0]:"},
		{"null is an empty array", `{"commands":null,"files":null,"newItems":null}`, 0, ""},
		{"an object where an array belongs", `{"commands":{"a":[1,2]}}`, 0, "output: commands: must be a JSON array, got object"},
		{"an element with more values than the limit", `{"commands":[{"command":"item-update","itemId":"i","actions":[{"action":"add-tags","tags":[` + strings.TrimSuffix(strings.Repeat(`"t",`, MaxElementValues), ",") + `]}]}]}`, 0, "output: commands[0]: holds more than 100000 JSON values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Decode([]byte(tt.stdout))
			if tt.err == "" {
				if err != nil || len(out.Commands) != tt.cmds {
					t.Fatalf("Decode = %d commands, %v; want %d, nil", len(out.Commands), err, tt.cmds)
				}
				return
			}
			var de *DecodeError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v, want a *DecodeError containing %q", err, tt.err)
			}
		})
	}
}

func TestCountValues(t *testing.T) {
	for in, want := range map[string]int{
		`1`: 1, `"a,b"`: 1, `[]`: 1, `[1,2,3]`: 4, `{"a":1,"b":[true,null]}`: 7 /* keys count too */, `["\"[",{}]`: 3, `[ -1.5e3 , "x" ]`: 3,
	} {
		if got := countValues([]byte(in), 100); got != want {
			t.Errorf("countValues(%s) = %d, want %d", in, got, want)
		}
	}
}
