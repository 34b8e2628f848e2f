package docker

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseImageUserResolvesAsTheEngineDoes(t *testing.T) {
	passwd := []byte("root:x:0:0:root:/root:/bin/sh\nappuser:x:1234:1235::/home/appuser:/bin/sh\nbroken line\n")
	group := []byte("root:x:0:\nstaff:x:50:\n")
	for _, c := range []struct {
		spec string
		want imageUser
		err  string
	}{
		{"", imageUser{0, 0, "/root", "root"}, ""},
		{"root", imageUser{0, 0, "/root", "root"}, ""},
		{"appuser", imageUser{1234, 1235, "/home/appuser", "appuser"}, ""},
		{"1234", imageUser{1234, 1235, "/home/appuser", "appuser"}, ""},
		{"appuser:staff", imageUser{1234, 50, "/home/appuser", "appuser"}, ""},
		{"appuser:77", imageUser{1234, 77, "/home/appuser", "appuser"}, ""},
		{"4321", imageUser{4321, 0, "", ""}, ""},
		{"4321:4321", imageUser{4321, 4321, "", ""}, ""},
		{"ghost", imageUser{}, `the image's USER "ghost" is not in its /etc/passwd`},
		{"appuser:nogroup", imageUser{}, `the image's USER group "nogroup" is not in its /etc/group`},
	} {
		got, err := parseImageUser(c.spec, passwd, group)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("parseImageUser(%q) = %+v, %v; want error %q", c.spec, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("parseImageUser(%q) = %+v, %v; want %+v", c.spec, got, err, c.want)
		}
	}
}

// The defaults run a published image unchanged: Docspell's docker run
// passes no --user, no --read-only and no limits
// (modules/addonlib/src/main/scala/docspell/addons/runner/DockerRunner.scala:51-62).
// berth keeps the hardening that changes nothing an image can do.
func TestDefaultConfigRunsPublishedImagesUnchanged(t *testing.T) {
	cfg := DefaultConfig()
	s := RunSpec{
		Name: "berth-ocr-1.0-0a1b2c3d", Image: "docspell/ocr-addon:1.0",
		RunID: "run-42", Addon: "ocr", Version: "1.0",
		Network: "none", User: cfg.user(),
		CapDropAll: cfg.CapDropAll, NoNewPrivileges: cfg.NoNewPrivileges, ReadOnlyRoot: cfg.ReadOnlyRoot,
		Limits:  cfg.limitsFor("ocr"),
		WorkDir: "/var/lib/berth/work/run-42", OutputDir: "/var/lib/berth/work/run-42-output", CacheDir: "/var/cache/berth/ocr",
		Env:  []string{"OUTPUT_DIR=/mnt/output"},
		Args: []string{"arguments/user-input"},
	}
	args, err := RunArgs(s)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "run-defaults", args)

}

func TestOpenDirsOpensTheTreeAndFollowsNoLink(t *testing.T) {
	root, outside := t.TempDir(), filepath.Join(t.TempDir(), "host-secret")
	os.WriteFile(outside, []byte("x"), 0o600)
	os.MkdirAll(filepath.Join(root, "sub"), 0o700)
	os.WriteFile(filepath.Join(root, "sub", "f"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(root, "run.sh"), []byte("x"), 0o700)
	os.Symlink(outside, filepath.Join(root, "sub", "link"))
	if err := openDirs(root); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{
		root: 0o777, filepath.Join(root, "sub"): 0o777, filepath.Join(root, "sub", "f"): 0o666,
		filepath.Join(root, "run.sh"): 0o777, outside: 0o600,
	} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", p, fi.Mode().Perm(), err, want)
		}
	}
}
