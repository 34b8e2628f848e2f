// Command berth-sandbox-init is the init of berth's builtin sandbox:
// berth starts it, inside fresh namespaces, once per sandboxed run. It
// is not meant to be run by hand.
//
// berth uses it when it is installed next to the berth binary (same
// directory); without it berth re-executes itself as the init, which
// works the same but starts several milliseconds slower, since berth's
// binary carries the daemon's packages. Install both:
//
//	go install ./cmd/...
package main

import "github.com/berth-dev/berth/sandbox/builtin/nsinit"

func main() {
	nsinit.Main() // never returns
}
