package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Dirs are the default working, cache and data directories.
type Dirs struct {
	Work, Cache, Data string
}

// defaultDirs picks the directories for a berth of user uid with the
// environment getenv and home directory home ("" if unknown):
//   - systemd's RUNTIME_DIRECTORY, CACHE_DIRECTORY and STATE_DIRECTORY
//     (RuntimeDirectory= and so on in a unit; the first of a
//     colon-separated list) whoever berth runs as;
//   - else, for a user other than root, the XDG directories:
//     $XDG_RUNTIME_DIR/berth/work (else $XDG_STATE_HOME/berth/work,
//     ~/.local/state/berth/work), $XDG_CACHE_HOME/berth (~/.cache/berth),
//     $XDG_DATA_HOME/berth (~/.local/share/berth), never a path in /tmp
//     that another user may have made first;
//   - else (root) TMPDIR/berth/work and root's cache and data.
func defaultDirs(uid int, getenv func(string) string, home string) Dirs {
	abs := func(v string) string {
		v, _, _ = strings.Cut(v, ":")
		if filepath.IsAbs(v) {
			return filepath.Clean(v)
		}
		return ""
	}
	xdg := func(v, below string) string {
		if d := abs(getenv(v)); d != "" {
			return d
		}
		if home != "" {
			return filepath.Join(home, below)
		}
		return ""
	}
	tmp := getenv("TMPDIR")
	if !filepath.IsAbs(tmp) {
		tmp = "/tmp"
	}
	shared := filepath.Join(tmp, "berth")
	if uid != 0 {
		// Without a home either: a directory of this user's own.
		shared = filepath.Join(tmp, "berth-"+strconv.Itoa(uid))
	}
	var d Dirs
	if r := abs(getenv("RUNTIME_DIRECTORY")); r != "" {
		d.Work = filepath.Join(r, "work")
	} else if r := abs(getenv("XDG_RUNTIME_DIR")); r != "" && uid != 0 {
		d.Work = filepath.Join(r, "berth", "work")
	} else if s := xdg("XDG_STATE_HOME", ".local/state"); s != "" && uid != 0 {
		d.Work = filepath.Join(s, "berth", "work")
	} else {
		d.Work = filepath.Join(shared, "work")
	}
	if c := abs(getenv("CACHE_DIRECTORY")); c != "" {
		d.Cache = c
	} else if c := xdg("XDG_CACHE_HOME", ".cache"); c != "" {
		d.Cache = filepath.Join(c, "berth")
	} else {
		d.Cache = filepath.Join(shared, "cache")
	}
	if s := abs(getenv("STATE_DIRECTORY")); s != "" {
		d.Data = s
	} else if s := xdg("XDG_DATA_HOME", ".local/share"); s != "" {
		d.Data = filepath.Join(s, "berth")
	} else {
		d.Data = filepath.Join(shared, "data")
	}
	return d
}

// DefaultDirs are the directories berth uses when berth.yaml names none,
// for this process's user and environment.
func DefaultDirs() Dirs {
	home, _ := os.UserHomeDir()
	return defaultDirs(os.Geteuid(), os.Getenv, home)
}
