package output

import (
	"encoding/json"
	"iter"
)

// These walk JSON that encoding/json's scanner has already accepted
// (Decode checks the syntax first), so they need not check it again and
// neither copy nor build anything.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the string starting at b[i].
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// valueEnd returns the index just past the value starting at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	for j := i; j < len(b); j++ {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
	}
	return len(b)
}

// members yields the keys and raw values of the object b.
func members(b []byte) iter.Seq2[string, []byte] {
	return func(yield func(string, []byte) bool) {
		i := skipSpace(b, 1) // past '{'
		for i < len(b) && b[i] == '"' {
			ke := stringEnd(b, i)
			var key string
			if err := json.Unmarshal(b[i:ke], &key); err != nil {
				return
			}
			i = skipSpace(b, ke) + 1 // past ':'
			i = skipSpace(b, i)
			ve := valueEnd(b, i)
			if !yield(key, b[i:ve]) {
				return
			}
			i = skipSpace(b, ve)
			if i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
			}
		}
	}
}

// elements yields the raw elements of the array b.
func elements(b []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		i := skipSpace(b, 1) // past '['
		for i < len(b) && b[i] != ']' {
			ve := valueEnd(b, i)
			if !yield(b[i:ve]) {
				return
			}
			i = skipSpace(b, ve)
			if i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
			}
		}
	}
}
