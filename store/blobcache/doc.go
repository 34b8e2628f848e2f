// Package blobcache is a node's local cache of the blobs kept in the
// database the nodes share (package store): addon packages, unpacked
// into a directory the runners read, and run output files, kept as
// files that can be served with Range requests. Each blob is fetched
// once per node; entries are named by the blob's SHA-256, checked as they
// arrive, and the least recently used ones are removed over a size
// bound, never one in use.
//
// It also holds the package format: a directory tree as a deterministic
// tar archive (same files, same bytes, same blob). It must not know the
// database, HTTP or how an addon runs.
package blobcache
