// Package memtest measures memory for benchmarks: the peak heap a piece of
// work holds above what was in use before it.
package memtest
