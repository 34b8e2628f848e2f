package builtin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestInitNextToFindsOnlyAnExecutableInitBesideBerth(t *testing.T) {
	type file struct {
		name string
		mode os.FileMode
	}
	cases := []struct {
		name  string
		files []file
		want  string // relative to the directory, or SelfInit
	}{
		{"an executable init beside berth", []file{{"berth", 0o755}, {InitName, 0o755}}, InitName},
		{"none beside berth", []file{{"berth", 0o755}}, SelfInit},
		{"one that is not executable", []file{{"berth", 0o755}, {InitName, 0o644}}, SelfInit},
		{"a directory of that name", []file{{"berth", 0o755}, {InitName + "/", 0o755}}, SelfInit},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range c.files {
				p := filepath.Join(dir, f.name)
				var err error
				if filepath.Base(f.name) != f.name || f.name[len(f.name)-1] == '/' {
					err = os.Mkdir(p, f.mode)
				} else {
					err = os.WriteFile(p, []byte("#!/bin/sh\n"), f.mode)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			want := c.want
			if want != SelfInit {
				want = filepath.Join(dir, want)
			}
			if got := initNextTo(filepath.Join(dir, "berth")); got != want {
				t.Errorf("initNextTo = %q, want %q", got, want)
			}
		})
	}
	t.Run("berth reached through a symlink looks beside the real file", func(t *testing.T) {
		real, links := t.TempDir(), t.TempDir()
		for _, n := range []string{"berth", InitName} {
			if err := os.WriteFile(filepath.Join(real, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		link := filepath.Join(links, "berth")
		if err := os.Symlink(filepath.Join(real, "berth"), link); err != nil {
			t.Fatal(err)
		}
		want, _ := filepath.EvalSymlinks(filepath.Join(real, InitName))
		if got := initNextTo(link); got != want {
			t.Errorf("initNextTo = %q, want %q", got, want)
		}
	})
}

// An init found beside berth that does not work (not an init at all, or
// one from another build) gives way to berth itself; the test binary,
// whose TestMain calls Init, plays berth.
func TestABrokenInitBesideBerthGivesWayToBerthItself(t *testing.T) {
	otherVersion := filepath.Join(t.TempDir(), InitName)
	if err := os.WriteFile(otherVersion, []byte("#!/bin/sh\necho 'berth sandbox: configuration version 1, this init understands 0' >&2\nexit 124\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, init string }{
		{"not an init", "/bin/true"},
		{"an init of another version", otherVersion},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := New(Config{})
			s.initPath = c.init // as DefaultInitPath would have found it
			if err := s.Available(context.Background()); err != nil {
				t.Fatalf("Available = %v, want berth itself to take over", err)
			}
			if got := s.InitPath(); got != SelfInit {
				t.Errorf("InitPath = %q after the fallback, want %q", got, SelfInit)
			}
		})
	}
	t.Run("a configured init is not replaced", func(t *testing.T) {
		s := New(Config{InitPath: otherVersion})
		if err := s.Available(context.Background()); !errors.Is(err, ErrInitVersion) {
			t.Fatalf("Available = %v, want ErrInitVersion", err)
		}
		if got := s.InitPath(); got != otherVersion {
			t.Errorf("InitPath = %q, want the configured %q", got, otherVersion)
		}
	})
}
