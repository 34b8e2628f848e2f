package docker

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
)

func TestNoUserNamespacesTakesCloneAndUnshareOutOfEveryAllowRule(t *testing.T) {
	base := `{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"archMap":[{"architecture":"SCMP_ARCH_X86_64"}],
"syscalls":[
 {"names":["read","clone","write","clone3","unshare"],"action":"SCMP_ACT_ALLOW","args":[]},
 {"names":["unshare"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}},
 {"name":"clone","action":"SCMP_ACT_ALLOW"},
 {"names":["setns"],"action":"SCMP_ACT_ERRNO","errnoRet":1}
]}`
	out, err := NoUserNamespaces([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	var prof struct {
		DefaultAction   string           `json:"defaultAction"`
		DefaultErrnoRet int              `json:"defaultErrnoRet"`
		ArchMap         []map[string]any `json:"archMap"`
		Syscalls        []struct {
			Names    []string `json:"names"`
			Action   string   `json:"action"`
			ErrnoRet int      `json:"errnoRet"`
			Args     []struct {
				Index    int    `json:"index"`
				Value    uint64 `json:"value"`
				ValueTwo uint64 `json:"valueTwo"`
				Op       string `json:"op"`
			} `json:"args"`
		} `json:"syscalls"`
	}
	if err := json.Unmarshal(out, &prof); err != nil {
		t.Fatal(err)
	}
	if prof.DefaultAction != "SCMP_ACT_ERRNO" || prof.DefaultErrnoRet != 38 || len(prof.ArchMap) != 1 {
		t.Errorf("the rest of the profile changed: %s", out)
	}
	var allowClone, denyUserns, clone3 int
	for _, r := range prof.Syscalls {
		guarded := slices.Contains(r.Names, "clone") || slices.Contains(r.Names, "unshare") || slices.Contains(r.Names, "clone3")
		switch {
		case r.Action == "SCMP_ACT_ALLOW" && guarded:
			if len(r.Args) != 1 || r.Args[0].Op != "SCMP_CMP_MASKED_EQ" || r.Args[0].ValueTwo != 0 || r.Args[0].Value&0x10000000 == 0 {
				t.Errorf("an allow rule lets %v through with namespace flags: %+v", r.Names, r.Args)
			}
			allowClone++
		case r.Action == "SCMP_ACT_ERRNO" && slices.Contains(r.Names, "clone3"):
			if r.ErrnoRet != 38 {
				t.Errorf("clone3 answers errno %d, want ENOSYS (38) so libc falls back to clone", r.ErrnoRet)
			}
			clone3++
		case r.Action == "SCMP_ACT_ERRNO" && guarded:
			if len(r.Args) != 1 || r.Args[0].Value != 0x10000000 || r.Args[0].ValueTwo != 0x10000000 || r.ErrnoRet != 1 {
				t.Errorf("the refusal of CLONE_NEWUSER is %+v errno %d", r.Args, r.ErrnoRet)
			}
			denyUserns++
		}
		if slices.Contains(r.Names, "read") && !slices.Contains(r.Names, "write") {
			t.Errorf("other calls of a rule were lost: %v", r.Names)
		}
	}
	if allowClone != 1 || denyUserns != 1 || clone3 != 1 {
		t.Errorf("got %d allow, %d deny and %d clone3 rules for clone/unshare, want one each:\n%s", allowClone, denyUserns, clone3, out)
	}
}

func TestNoUserNamespacesNamesWhatIsWrongWithABadProfile(t *testing.T) {
	for _, bad := range []string{`not json`, `{"syscalls":[]}`, `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":{}}`, `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[1]}`} {
		if _, err := NoUserNamespaces([]byte(bad)); err == nil {
			t.Errorf("NoUserNamespaces(%s) = nil error", bad)
		}
	}
}

// The profile podman ships here must still be one berth can change.
func TestTheInstalledPodmanProfileCanBeChanged(t *testing.T) {
	found := false
	for _, p := range PodmanProfilePaths {
		if _, err := os.Stat(p); err == nil {
			found = true
		}
	}
	if !found {
		t.Skip("containers-common is not installed (CI installs podman, which brings it)")
	}
	if _, err := podmanProfile(); err != nil {
		t.Fatal(err)
	}
}
