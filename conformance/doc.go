// Package conformance holds berth's Docspell conformance suite: tests
// (and testdata addons) whose cases reproduce a Docspell test or a line
// of Docspell's addon documentation, each named after it and citing the
// file and line of eikek/docspell or of a published addon. The
// published addons that cannot run offline (their builds download
// nixpkgs, Maven artifacts or images) are in testdata/published as
// stand-ins doing with berth's environment and files what the addon's
// code does, run on every runner their descriptors enable. It has no
// code of its own; it must not hold logic the rest of berth needs.
package conformance
