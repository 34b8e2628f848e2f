// Package conformance holds berth's Docspell conformance suite: tests
// (and testdata addons) whose cases reproduce a Docspell test or a line
// of Docspell's addon documentation, each named after it and citing the
// file and line of eikek/docspell or of a published addon. It has no
// code of its own; it must not hold logic the rest of berth needs.
package conformance
