package addon

import (
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/berth-dev/berth/internal/lazyregexp"
)

// Docspell reads descriptors with circe-yaml on SnakeYAML, a YAML 1.1
// parser; berth's YAML library speaks YAML 1.2. scalar reads a value as
// SnakeYAML resolves it, so that `enable: yes` is true for berth as it
// is for Docspell and `version: 1.10` keeps its literal.

// SnakeYAML's implicit resolvers (snakeyaml
// src/main/java/org/yaml/snakeyaml/resolver/Resolver.java, BOOL, FLOAT,
// INT, NULL). A timestamp stays a string: circe-yaml turns it into JSON
// text (circe-yaml/src/main/scala/io/circe/yaml/Parser.scala:154).
var (
	yaml11Bool  = lazyregexp.New(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)
	yaml11True  = lazyregexp.New(`^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$`)
	yaml11Float = lazyregexp.New(`^([-+]?(\.[0-9]+|[0-9_]+(\.[0-9_]*)?)([eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
	yaml11Int   = lazyregexp.New(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	yaml11Null  = lazyregexp.New(`^(?:~|null|Null|NULL|)$`)
)

type scalarKind int

const (
	kindString scalarKind = iota
	kindBool
	kindNumber
	kindNull
	kindCollection // a mapping or a sequence where a scalar belongs
)

func (k scalarKind) String() string {
	switch k {
	case kindBool:
		return "a boolean"
	case kindNumber:
		return "a number"
	case kindNull:
		return "null"
	case kindCollection:
		return "a mapping or list"
	}
	return "a string"
}

// scalar is one descriptor value as written. The zero value is "absent".
type scalar struct {
	set  bool
	text string // the value without quotes; a number's literal as written
	kind scalarKind
}

// UnmarshalYAML receives the value's own YAML (aliases already replaced)
// and parses it again to see how it was written.
func (s *scalar) UnmarshalYAML(b []byte) error {
	*s = scalar{set: true}
	f, err := parser.ParseBytes(b, 0)
	if err != nil || len(f.Docs) == 0 || f.Docs[0].Body == nil {
		s.kind = kindNull
		return nil
	}
	n, tag := f.Docs[0].Body, ""
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
			continue
		case *ast.TagNode:
			if t := v.GetToken(); t != nil {
				tag = t.Value
			}
			n = v.Value
			continue
		}
		break
	}
	switch v := n.(type) {
	case nil, *ast.NullNode:
		s.kind = kindNull
		if tag == "!!str" {
			s.kind = kindString
		}
		return nil
	case *ast.MappingNode, *ast.MappingValueNode, *ast.SequenceNode:
		s.kind = kindCollection
		return nil
	case *ast.LiteralNode:
		s.text = v.Value.Value
		return nil
	case *ast.StringNode:
		s.text = v.Value
		if t := v.GetToken(); t != nil && (t.Type == token.DoubleQuoteType || t.Type == token.SingleQuoteType) {
			return nil
		}
	default:
		if t := n.GetToken(); t != nil {
			s.text = t.Value
		}
	}
	switch tag {
	case "!!str":
		return nil
	case "!!bool":
		s.kind = kindBool
		return nil
	case "!!int", "!!float":
		s.kind = kindNumber
		return nil
	}
	switch {
	case yaml11Bool().MatchString(s.text):
		s.kind = kindBool
	case yaml11Int().MatchString(s.text), yaml11Float().MatchString(s.text):
		s.kind = kindNumber
	case yaml11Null().MatchString(s.text):
		s.kind = kindNull
	}
	return nil
}

// boolValue is the scalar as a YAML 1.1 boolean.
func (s scalar) boolValue() (bool, bool) {
	if s.kind != kindBool {
		return false, false
	}
	return yaml11True().MatchString(s.text) || s.text == "true", true
}
