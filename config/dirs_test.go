package config

import "testing"

func TestDefaultDirsAreTheUsersOwn(t *testing.T) {
	tests := []struct {
		name string
		uid  int
		env  map[string]string
		home string
		want Dirs
	}{
		{"a user's login session: the XDG directories",
			1000, map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}, "/home/ann",
			Dirs{"/run/user/1000/berth/work", "/home/ann/.cache/berth", "/home/ann/.local/share/berth"}},
		{"the XDG variables win over the home directory",
			1000, map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000", "XDG_CACHE_HOME": "/c", "XDG_DATA_HOME": "/d"}, "/home/ann",
			Dirs{"/run/user/1000/berth/work", "/c/berth", "/d/berth"}},
		{"a user without a runtime directory (su, cron): state below home",
			1000, map[string]string{"XDG_STATE_HOME": "/s"}, "/home/ann",
			Dirs{"/s/berth/work", "/home/ann/.cache/berth", "/home/ann/.local/share/berth"}},
		{"a user with no home at all: a /tmp directory named for the user",
			1000, map[string]string{}, "",
			Dirs{"/tmp/berth-1000/work", "/tmp/berth-1000/cache", "/tmp/berth-1000/data"}},
		{"the shipped unit: systemd's directories",
			998, map[string]string{"RUNTIME_DIRECTORY": "/run/berth", "CACHE_DIRECTORY": "/var/cache/berth", "STATE_DIRECTORY": "/var/lib/berth", "XDG_RUNTIME_DIR": "/run/user/998"}, "/var/lib/berth",
			Dirs{"/run/berth/work", "/var/cache/berth", "/var/lib/berth"}},
		{"systemd's directories as root too, the first of a list",
			0, map[string]string{"RUNTIME_DIRECTORY": "/run/berth:/run/other", "STATE_DIRECTORY": "/var/lib/berth"}, "/root",
			Dirs{"/run/berth/work", "/root/.cache/berth", "/var/lib/berth"}},
		{"root without systemd keeps TMPDIR/berth",
			0, map[string]string{"TMPDIR": "/var/tmp", "XDG_RUNTIME_DIR": "/run/user/0"}, "/root",
			Dirs{"/var/tmp/berth/work", "/root/.cache/berth", "/root/.local/share/berth"}},
		{"a relative variable is ignored",
			1000, map[string]string{"XDG_RUNTIME_DIR": "run", "CACHE_DIRECTORY": "cache"}, "/home/ann",
			Dirs{"/home/ann/.local/state/berth/work", "/home/ann/.cache/berth", "/home/ann/.local/share/berth"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := defaultDirs(tt.uid, func(k string) string { return tt.env[k] }, tt.home)
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
