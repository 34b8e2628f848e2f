package lazyregexp

import (
	"regexp"
	"sync"
)

// New returns a function that compiles expr on its first call and returns
// the same *regexp.Regexp from then on. Like regexp.MustCompile it panics
// if expr does not compile, at the first use instead of at start-up (each
// expression is a constant covered by its package's tests).
func New(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
