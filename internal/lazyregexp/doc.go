// Package lazyregexp compiles a package-level regular expression the
// first time it is used rather than when the program starts (as Go's own
// internal/lazyregexp does): every berth command pays the package
// initialisers of everything it links, and most commands never match most
// expressions.
package lazyregexp
