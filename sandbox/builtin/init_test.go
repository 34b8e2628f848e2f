package builtin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
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
		// Run on every sandboxed run, as berth's user (root: with the
		// host's files at hand until it pivots): whoever may change it
		// would run code as berth.
		{"one anyone may write", []file{{"berth", 0o755}, {InitName, 0o757}}, SelfInit},
		{"one its group may write", []file{{"berth", 0o755}, {InitName, 0o775}}, SelfInit},
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
				if err == nil {
					err = os.Chmod(p, f.mode) // past the umask
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			want := c.want
			if want != SelfInit {
				want = filepath.Join(dir, want)
			}
			if got := initPathNextTo(filepath.Join(dir, "berth")); got != want {
				t.Errorf("findInitNextTo = %q, want %q", got, want)
			}
		})
	}
	t.Run("one in a directory anyone may write is not used", func(t *testing.T) {
		dir := t.TempDir()
		for _, n := range []string{"berth", InitName} {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		if got := initPathNextTo(filepath.Join(dir, "berth")); got != SelfInit {
			t.Errorf("findInitNextTo = %q, want %q", got, SelfInit)
		}
	})
	t.Run("one owned by another user is not used", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("giving a file to another user needs root")
		}
		dir := t.TempDir()
		for _, n := range []string{"berth", InitName} {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chown(filepath.Join(dir, InitName), 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if got := initPathNextTo(filepath.Join(dir, "berth")); got != SelfInit {
			t.Errorf("findInitNextTo = %q, want %q", got, SelfInit)
		}
	})
	t.Run("one that is a symlink is judged by the file it leads to", func(t *testing.T) {
		dir, other := t.TempDir(), t.TempDir()
		target := filepath.Join(other, "anything")
		for _, p := range []string{filepath.Join(dir, "berth"), target} {
			if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(target, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(dir, InitName)); err != nil {
			t.Fatal(err)
		}
		if got := initPathNextTo(filepath.Join(dir, "berth")); got != SelfInit {
			t.Errorf("findInitNextTo = %q, want %q", got, SelfInit)
		}
	})
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
		if got := initPathNextTo(link); got != want {
			t.Errorf("findInitNextTo = %q, want %q", got, want)
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
	notAProgram := filepath.Join(t.TempDir(), InitName)
	if err := os.WriteFile(notAProgram, []byte("\x00\x01 not a program"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, init string }{
		{"not an init", "/bin/true"},
		{"not a program at all (exec format error)", notAProgram},
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
	t.Run("a configured init anyone may write is refused, naming it and the fix", func(t *testing.T) {
		writable := filepath.Join(t.TempDir(), InitName)
		if err := os.WriteFile(writable, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(writable, 0o777); err != nil {
			t.Fatal(err)
		}
		s := New(Config{InitPath: writable})
		err := s.Available(context.Background())
		if !errors.Is(err, ErrInitUntrusted) {
			t.Fatalf("Available = %v, want ErrInitUntrusted", err)
		}
		for _, want := range []string{writable, "chmod go-w"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("the error %q does not say %q", err, want)
			}
		}
	})
	t.Run("a configured init given as a relative path is refused, saying so", func(t *testing.T) {
		// berth starts the init in "/": a relative path would be looked
		// up there, not where the operator meant.
		s := New(Config{InitPath: "bin/" + InitName})
		err := s.Available(context.Background())
		if err == nil || !strings.Contains(err.Error(), "absolute path") || !strings.Contains(err.Error(), "bin/"+InitName) {
			t.Fatalf("Available = %v, want an error saying the init must be an absolute path", err)
		}
	})
	t.Run("a configured init that is missing is named, with the fix", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), InitName)
		err := New(Config{InitPath: missing}).Available(context.Background())
		if !errors.Is(err, ErrNoInit) || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "builtin.init") {
			t.Fatalf("Available = %v, want ErrNoInit naming %s and builtin.init", err, missing)
		}
	})
	t.Run("a configured init is not replaced", func(t *testing.T) {
		s := New(Config{InitPath: otherVersion})
		err := s.Available(context.Background())
		if !errors.Is(err, ErrInitVersion) {
			t.Fatalf("Available = %v, want ErrInitVersion", err)
		}
		for _, want := range []string{otherVersion, "install the berth-sandbox-init built with this berth"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("the error %q does not say %q", err, want)
			}
		}
		if got := s.InitPath(); got != otherVersion {
			t.Errorf("InitPath = %q, want the configured %q", got, otherVersion)
		}
	})
}

// initPathNextTo is the init findInitNextTo picks, whatever the reason.
func initPathNextTo(exe string) string {
	p, _ := findInitNextTo(exe)
	return p
}
