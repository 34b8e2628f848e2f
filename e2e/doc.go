// Package e2e holds the browser tests of berth's operator console:
// console_test.go starts a real berth daemon (SQLite, the trivial
// runner) and runs console.spec.mjs, which drives Debian's chromium with
// playwright-core (npm ci in this directory; no browser is downloaded).
// It has no code of its own.
package e2e
