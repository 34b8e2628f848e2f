package builtin

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Package managers and the nix store set a binary's modification time
// (nix: 1 s after the epoch; dpkg: SOURCE_DATE_EPOCH; cp -p keeps it),
// so a rebuilt init of the same size can carry the old one's size and
// mtime: the key must still change.
func TestTheProbeKeyChangesWhenTheInitIsReplaced(t *testing.T) {
	stamp := time.Unix(1, 0)
	cases := []struct {
		name    string
		replace func(t *testing.T, path string)
	}{
		{"rewritten in place with the same size and mtime", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 2\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{"renamed over with the same size and mtime", func(t *testing.T, path string) {
			tmp := path + ".new"
			if err := os.WriteFile(tmp, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(tmp, stamp, stamp); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			init := filepath.Join(t.TempDir(), InitName)
			if err := os.WriteFile(init, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(init, stamp, stamp); err != nil {
				t.Fatal(err)
			}
			before, ok := probeKey(init)
			if !ok {
				t.Fatal("no probe key")
			}
			time.Sleep(10 * time.Millisecond) // a later change time, on coarse clocks too
			c.replace(t, init)
			if err := os.Chtimes(init, stamp, stamp); err != nil {
				t.Fatal(err)
			}
			after, _ := probeKey(init)
			if after == before {
				t.Error("the probe key stayed the same for another init binary")
			}
		})
	}
}
