// Package trivial is the runner that executes an addon's own program
// (runner.trivial.exec) as it is, optionally inside a sandbox. It must
// not know how a sandbox isolates: it only asks one to wrap the command.
package trivial
