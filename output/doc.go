// Package output decodes and validates what a Docspell addon prints on
// stdout when its descriptor says collectOutput, and merges the outputs of
// the addons of a chain.
//
// The accepted JSON is Docspell's AddonOutput (modules/addonlib, package
// docspell.addons.out, and docspell.common.bc for the commands): an object
// with the optional lists "commands", "files" and "newItems". Decode follows
// the circe decoders Docspell derives for these types, so that berth accepts
// exactly what Docspell accepts: unknown keys are ignored, unknown command
// or action names are errors, required fields must be present, dates are
// epoch milliseconds and ids use Docspell's Ident alphabet. Every error is a
// *DecodeError naming the JSON path of the offending value.
//
// Output marshals back to JSON in Docspell's shape, so what berth prints or
// stores can be handed to Docspell unchanged.
//
// This package must not know how addons are run, where their stdout comes
// from, or how the commands and files are applied: it only turns bytes into
// a validated Output and back.
package output
