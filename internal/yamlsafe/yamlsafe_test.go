package yamlsafe

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUnmarshalRefusesHostileInput(t *testing.T) {
	cases := []struct {
		name   string
		data   []byte
		limit  bool // wraps ErrLimit
		reason string
	}{
		{"an alias bomb of 7 levels of 10 (issue 16)", readFixture(t, "alias-bomb.yaml"), true, "expands to more than 100000 values"},
		{"48 aliases nested in pairs, under Docspell's alias limit, expanding to 2^25 values", readFixture(t, "alias-pairs.yaml"), true, "expands to more than 100000 values"},
		{"5000 nested flow sequences", readFixture(t, "deep-flow.yaml"), true, "nests more than 50 levels"},
		{"51 nested block mappings", []byte(nestedBlocks(51)), true, "nests more than 50 levels"},
		{"an alias that nests a sequence past the depth limit", []byte("a: &a " + strings.Repeat("[", 30) + strings.Repeat("]", 30) + "\nb: " + strings.Repeat("[", 25) + "*a" + strings.Repeat("]", 25) + "\n"), true, "through alias *a"},
		{"a document over 3 MiB", []byte("a: \"" + strings.Repeat("x", MaxBytes) + "\"\n"), true, "more than the limit"},
		{"a tag with no value on a list (args: !x panicked the YAML library)", []byte("args: !x\n"), false, "tag !x has no value"},
		{"a bomb of 60 aliases of small sequences", []byte("a: &a [x]\nb: [" + strings.TrimSuffix(strings.Repeat("*a, ", 60), ", ") + "]\n"), true, "more than 50 aliases"},
		{"a tag with no value in a nested mapping", []byte("runner:\n  trivial: !foo\n"), false, "tag !foo has no value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var v struct {
				Args   []string       `yaml:"args"`
				Runner map[string]any `yaml:"runner"`
			}
			err := Unmarshal(c.data, &v)
			var ye *Error
			if !errors.As(err, &ye) {
				t.Fatalf("Unmarshal = %v (%T), want *Error", err, err)
			}
			if !strings.Contains(err.Error(), c.reason) {
				t.Errorf("error %q does not say %q", err, c.reason)
			}
			if errors.Is(err, ErrLimit) != c.limit {
				t.Errorf("errors.Is(%v, ErrLimit) = %v, want %v", err, !c.limit, c.limit)
			}
		})
	}
}

func nestedBlocks(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(strings.Repeat(" ", i) + "k:\n")
	}
	b.WriteString(strings.Repeat(" ", n) + "k: v\n")
	return b.String()
}

func TestUnmarshalAcceptsOrdinaryAliases(t *testing.T) {
	data := []byte(`
defaults: &d
  image: busybox
  ports: ["80:80", "443:443"]
a:
  <<: *d
  name: a
b:
  <<: *d
  name: b
list: &l [1, 2, 3]
again: *l
label: &s text
copy: *s
` + nestedBlocks(40))
	var v map[string]any
	if err := Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	if got := v["b"].(map[string]any)["image"]; got != "busybox" {
		t.Errorf("b.image = %v, want busybox (merged from the anchor)", got)
	}
	if got := v["copy"]; got != "text" {
		t.Errorf("copy = %v, want text", got)
	}
}

func TestCheckCountsBracketsOnlyOutsideQuotesAndComments(t *testing.T) {
	brackets := strings.Repeat("[", maxFlowNesting+1)
	for _, doc := range []string{
		"a: \"" + brackets + "\"\n",
		"a: '" + brackets + "'\n",
		"a: 1 # " + brackets + "\n",
	} {
		if err := Check([]byte(doc)); err != nil {
			t.Errorf("Check(%.20q...) = %v, want nil", doc, err)
		}
	}
}
