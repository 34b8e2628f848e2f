package cgroups_test

import (
	"maps"
	"testing"

	"github.com/berth-dev/berth/sandbox/internal/cgroups"
)

func TestProcSelfCgroupIsRead(t *testing.T) {
	tests := []struct {
		name, data string
		want       map[string]string
	}{
		{"a unified host (Debian 12) gives only the v2 line",
			"0::/system.slice/berth.service\n",
			map[string]string{"0": "/system.slice/berth.service"}},
		{"a hybrid host gives one line per v1 hierarchy and the v2 one",
			"9:name=systemd:/\n4:memory:/process_api/f3\n1:cpu,cpuacct:/x\n0::/\n",
			map[string]string{"name=systemd": "/", "memory": "/process_api/f3", "cpu": "/x", "cpuacct": "/x", "0": "/"}},
		{"a path with colons is kept whole",
			"0::/user.slice/a:b\n",
			map[string]string{"0": "/user.slice/a:b"}},
		{"garbage lines are skipped",
			"nonsense\n\n0::/ok\n",
			map[string]string{"0": "/ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cgroups.ParseProcCgroup(tt.data); !maps.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRunsGroupsGoBelowBerthsOwnCgroup(t *testing.T) {
	const mount = "/sys/fs/cgroup"
	tests := []struct {
		name, own, parent string
		base, leaf        string
		err               bool
	}{
		{"in a service, runs go beside a leaf berth moves into",
			"/system.slice/berth.service", "", "/system.slice/berth.service", "/system.slice/berth.service/" + cgroups.LeafName, false},
		{"in a user's delegated scope the same",
			"/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope", "",
			"/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope",
			"/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope/" + cgroups.LeafName, false},
		{"a berth already in its leaf uses the leaf's parent",
			"/system.slice/berth.service/" + cgroups.LeafName, "", "/system.slice/berth.service", "/system.slice/berth.service/" + cgroups.LeafName, false},
		{"nspawn's supervisor group is not berth's leaf",
			"/machine.slice/m.scope/supervisor", "", "/machine.slice/m.scope/supervisor", "/machine.slice/m.scope/supervisor/" + cgroups.LeafName, false},
		{"at the root (no service manager) a berth group below it",
			"/", "", "/berth", "", false},
		{"a configured group as a path below the mount",
			"/system.slice/berth.service", "/berth-runs", "/berth-runs", "", false},
		{"a configured group as a directory",
			"/system.slice/berth.service", "/sys/fs/cgroup/berth-runs/", "/berth-runs", "", false},
		{"a relative configured group is refused",
			"/", "berth-runs", "", "", true},
		{"no v2 line is refused",
			"", "", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, leaf, err := cgroups.ChooseV2(mount, tt.own, tt.parent)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want an error: %v", err, tt.err)
			}
			if base != tt.base || leaf != tt.leaf {
				t.Errorf("base, leaf = %q, %q; want %q, %q", base, leaf, tt.base, tt.leaf)
			}
		})
	}
}
