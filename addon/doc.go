// Package addon holds what berth knows about an addon package before it
// runs: where its files come from (a directory, a zip or a zip URL),
// how they are unpacked safely, its descriptor (Docspell's
// docspell-addon.{json,yaml,yml} format) and the content hash that keys
// build caches.
//
// It must not know how an addon is run: runners, sandboxes and the
// executor build on the Addon value this package returns.
package addon
