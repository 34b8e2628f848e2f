package yamlsafe

import (
	"errors"
	"fmt"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// The limits every caller gets. The first three are those of Docspell's
// YAML parser (circe-yaml 0.16 on SnakeYAML, circe-yaml
// modules/common/.../Parser.scala:44-45 and circe-yaml/.../Parser.scala:101):
// what Docspell reads, berth reads too. MaxNodes is berth's own: SnakeYAML
// shares an aliased node, the Go YAML library copies it, so 50 aliases
// nested in pairs would still expand to 2^25 values.
const (
	// MaxBytes is the largest document accepted (Docspell: 3 MiB of
	// code points).
	MaxBytes = 3 << 20
	// MaxDepth is the deepest nesting of mappings and sequences,
	// counted through aliases.
	MaxDepth = 50
	// MaxCollectionAliases is how many aliases of a mapping or a
	// sequence one document may hold (aliases of a scalar cost nothing).
	MaxCollectionAliases = 50
	// MaxNodes is how many nodes the document may expand to once every
	// alias is replaced by what it names.
	MaxNodes = 100_000
)

// maxFlowNesting bounds the brackets counted before parsing: the parser
// recurses once per level, and a deep enough "[[[[" would overflow its
// stack, which no recover catches. Far above MaxDepth, which is checked
// precisely on the parsed tree.
const maxFlowNesting = 1000

// ErrLimit is wrapped by every *Error about a limit above.
var ErrLimit = errors.New("YAML limit exceeded")

// ErrLibrary is wrapped by an *Error for input that made the YAML
// library panic.
var ErrLibrary = errors.New("YAML library failure")

// Error is input refused before or while decoding. Line is 1-based, 0
// when unknown.
type Error struct {
	Line   int
	Reason string
	Err    error // ErrLimit, ErrLibrary or nil
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return e.Reason
}

func (e *Error) Unwrap() error { return e.Err }

// Unmarshal checks data (see Check) and decodes it into v with the YAML
// library's options. Errors of the library are returned as they are (a
// yaml.Error carries the line); a panic of the library is an *Error
// wrapping ErrLibrary.
func Unmarshal(data []byte, v any, opts ...yaml.DecodeOption) (err error) {
	if err := Check(data); err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = &Error{Reason: fmt.Sprintf("cannot be parsed (the YAML library failed on this input: %v)", r), Err: ErrLibrary}
		}
	}()
	return yaml.UnmarshalWithOptions(data, v, opts...)
}

// Check refuses data beyond the limits above, and a tag with no value
// ("args: !x"), which makes the YAML library panic. A syntax error is
// left for the decoder to report with its own message.
func Check(data []byte) (err error) {
	if len(data) > MaxBytes {
		return &Error{Reason: fmt.Sprintf("is %d bytes, more than the limit of %d", len(data), MaxBytes), Err: ErrLimit}
	}
	if line, ok := flowNestingOK(data); !ok {
		return &Error{Line: line, Reason: fmt.Sprintf("nests more than %d levels deep", MaxDepth), Err: ErrLimit}
	}
	defer func() {
		if r := recover(); r != nil {
			err = &Error{Reason: fmt.Sprintf("cannot be parsed (the YAML library failed on this input: %v)", r), Err: ErrLibrary}
		}
	}()
	f, perr := parser.ParseBytes(data, 0)
	if perr != nil {
		return nil
	}
	w := &walker{anchors: map[string]anchorInfo{}, busy: map[string]bool{}}
	for _, d := range f.Docs {
		if _, _, err := w.walk(d.Body, 0); err != nil {
			return err
		}
	}
	return nil
}

// flowNestingOK counts "[" and "{" outside quotes and comments: a cheap,
// conservative guard for the parser's stack. It returns the line where
// maxFlowNesting is passed.
func flowNestingOK(data []byte) (int, bool) {
	depth, line := 0, 1
	var quote byte
	comment := false
	for i, c := range data {
		switch {
		case c == '\n':
			line++
			comment = false
			continue
		case comment:
			continue
		case quote != 0:
			if c == quote {
				quote = 0
			}
			continue
		}
		switch c {
		case '#':
			if i == 0 || data[i-1] == ' ' || data[i-1] == '\t' || data[i-1] == '\n' {
				comment = true
			}
		case '"', '\'':
			quote = c
		case '[', '{':
			if depth++; depth > maxFlowNesting {
				return line, false
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return 0, true
}

type anchorInfo struct {
	nodes, depth int
	collection   bool
}

// walker computes what a document expands to. Anchors are recorded in
// document order, as the decoder resolves them; a later anchor of the
// same name replaces an earlier one.
type walker struct {
	anchors map[string]anchorInfo
	busy    map[string]bool
	nodes   int
	aliases int
}

func line(n ast.Node) int {
	if t := n.GetToken(); t != nil && t.Position != nil {
		return t.Position.Line
	}
	return 0
}

// walk returns the number of nodes n expands to and its depth, and adds
// them to the document's total.
func (w *walker) walk(n ast.Node, depth int) (nodes, height int, err error) {
	if n == nil {
		return 0, 0, nil
	}
	if depth > MaxDepth {
		return 0, 0, &Error{Line: line(n), Reason: fmt.Sprintf("nests more than %d levels deep", MaxDepth), Err: ErrLimit}
	}
	count := func(k int) error {
		w.nodes += k
		if w.nodes > MaxNodes {
			return &Error{Line: line(n), Reason: fmt.Sprintf("expands to more than %d values (through its aliases)", MaxNodes), Err: ErrLimit}
		}
		return nil
	}
	children := func(list ...ast.Node) (int, int, error) {
		if err := count(1); err != nil {
			return 0, 0, err
		}
		total, h := 1, 0
		for _, c := range list {
			k, ch, err := w.walk(c, depth+1)
			if err != nil {
				return 0, 0, err
			}
			total += k
			h = max(h, ch)
		}
		return total, h + 1, nil
	}
	switch n := n.(type) {
	case *ast.MappingNode:
		list := make([]ast.Node, 0, 2*len(n.Values))
		for _, v := range n.Values {
			list = append(list, v.Key, v.Value)
		}
		return children(list...)
	case *ast.MappingValueNode:
		// a single "key: value" at the top of a document
		return children(n.Key, n.Value)
	case *ast.MappingKeyNode:
		return w.walk(n.Value, depth)
	case *ast.SequenceNode:
		return children(n.Values...)
	case *ast.TagNode:
		// The library panics decoding a tagged empty value into a list
		// or a map; Docspell's parser would read `!x` as an object
		// {"x": ""} that no field accepts, so nothing is lost.
		tag := ""
		if t := n.GetToken(); t != nil {
			tag = t.Value
		}
		if _, empty := n.Value.(*ast.NullNode); (n.Value == nil || empty) && tag != "!!null" {
			return 0, 0, &Error{Line: line(n), Reason: fmt.Sprintf("the YAML tag %s has no value after it", tag)}
		}
		return w.walk(n.Value, depth)
	case *ast.AnchorNode:
		name := n.Name.GetToken().Value
		w.busy[name] = true
		k, h, err := w.walk(n.Value, depth)
		delete(w.busy, name)
		if err != nil {
			return 0, 0, err
		}
		_, isMap := n.Value.(*ast.MappingNode)
		_, isSeq := n.Value.(*ast.SequenceNode)
		w.anchors[name] = anchorInfo{nodes: k, depth: h, collection: isMap || isSeq}
		return k, h, nil
	case *ast.AliasNode:
		name := n.Value.GetToken().Value
		a, ok := w.anchors[name]
		if !ok || w.busy[name] {
			// unknown or recursive: the decoder reports or ignores it
			return 1, 0, count(1)
		}
		if a.collection {
			if w.aliases++; w.aliases > MaxCollectionAliases {
				return 0, 0, &Error{Line: line(n), Reason: fmt.Sprintf("has more than %d aliases of mappings or sequences", MaxCollectionAliases), Err: ErrLimit}
			}
		}
		if depth+a.depth > MaxDepth {
			return 0, 0, &Error{Line: line(n), Reason: fmt.Sprintf("nests more than %d levels deep (through alias *%s)", MaxDepth, name), Err: ErrLimit}
		}
		return a.nodes, a.depth, count(a.nodes)
	default:
		return 1, 0, count(1)
	}
}
