// Package executor runs one addon, or a chain of addons sharing one run
// configuration, under berth's runtime contract: it lays out the working
// directory, picks runners from the preference list, applies the time
// limit, decodes the output and returns a Result that says exactly what
// happened. Output is returned only when every addon of a chain
// succeeded.
//
// It must not know how a runner works (it only uses runner.Runner), nor
// when or why a chain runs (that is the daemon's or the CLI's business).
package executor
