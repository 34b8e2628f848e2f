// Package golden compares what a test produced with a file under
// testdata, line by line, and rewrites the file instead when the test
// binary runs with -update (go test ./pkg -update). It is for tests
// only: it registers the -update flag.
package golden
