package docker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// PodmanProfilePaths are where containers-common installs the seccomp
// profile podman applies by default (an operator's copy in /etc first).
var PodmanProfilePaths = []string{"/etc/containers/seccomp.json", "/usr/share/containers/seccomp.json"}

// ErrNoPodmanProfile is returned when none of PodmanProfilePaths exists:
// berth cannot make the profile that keeps a podman container from
// creating user namespaces, and does not run a container without it.
var ErrNoPodmanProfile = errors.New("podman's default seccomp profile was not found")

// namespaceFlags are the clone/unshare flags that create namespaces.
const namespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
	unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

// NoUserNamespaces returns the seccomp profile base (docker/podman JSON,
// as containers-common ships it) changed so that no process in the
// container can create a user namespace, which docker's default profile
// refuses and containers-common's allows: inside a new user namespace an
// unprivileged process holds every capability (--cap-drop ALL notwithstanding),
// and with them the kernel surface of mounts, netfilter and the rest.
//
// Every rule that allows clone, clone3 or unshare loses them; in their
// place clone and unshare are allowed without namespace flags (what
// fork, threads and unshare(CLONE_FILES) need), refused with EPERM
// with CLONE_NEWUSER (also under a profile that allows by default), and
// clone3, whose flags a filter cannot see, answers ENOSYS so that libc
// falls back to clone (docker's default profile does the same). The
// flags are checked in the first argument, where amd64 and arm64 pass
// them. Everything else in base is kept as it is.
func NoUserNamespaces(base []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(base))
	dec.UseNumber()
	var prof map[string]any
	if err := dec.Decode(&prof); err != nil {
		return nil, fmt.Errorf("reading the seccomp profile: %w", err)
	}
	if _, ok := prof["defaultAction"].(string); !ok {
		return nil, errors.New("reading the seccomp profile: no defaultAction")
	}
	var rules []any
	if raw, ok := prof["syscalls"]; ok && raw != nil {
		list, ok := raw.([]any)
		if !ok {
			return nil, errors.New("reading the seccomp profile: syscalls is not a list")
		}
		rules = list
	}
	guarded := []string{"clone", "clone3", "unshare"}
	kept := make([]any, 0, len(rules)+4)
	for i, r := range rules {
		rule, ok := r.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("reading the seccomp profile: syscalls[%d] is not an object", i)
		}
		names, _ := rule["names"].([]any)
		if name, ok := rule["name"].(string); ok && len(names) == 0 {
			names = []any{name} // the older one-name form
			delete(rule, "name")
		}
		if a, _ := rule["action"].(string); a == "SCMP_ACT_ALLOW" {
			names = slices.DeleteFunc(slices.Clone(names), func(n any) bool {
				s, _ := n.(string)
				return slices.Contains(guarded, s)
			})
			if len(names) == 0 {
				continue
			}
		}
		rule["names"] = names
		kept = append(kept, rule)
	}
	arg0 := func(mask, value uint64) []any {
		return []any{map[string]any{"index": 0, "value": mask, "valueTwo": value, "op": "SCMP_CMP_MASKED_EQ"}}
	}
	kept = append(kept,
		map[string]any{"names": []string{"clone", "unshare"}, "action": "SCMP_ACT_ALLOW", "args": arg0(namespaceFlags, 0),
			"comment": "berth: no namespace flags"},
		map[string]any{"names": []string{"clone", "unshare"}, "action": "SCMP_ACT_ERRNO", "errnoRet": int(unix.EPERM), "args": arg0(unix.CLONE_NEWUSER, unix.CLONE_NEWUSER),
			"comment": "berth: no user namespaces"},
		map[string]any{"names": []string{"clone3"}, "action": "SCMP_ACT_ERRNO", "errnoRet": int(unix.ENOSYS),
			"comment": "berth: clone3's flags are out of a filter's reach; libc falls back to clone"},
	)
	prof["syscalls"] = kept
	return json.MarshalIndent(prof, "", " ")
}

// podmanProfile reads the first of PodmanProfilePaths and returns it as
// NoUserNamespaces changes it.
func podmanProfile() ([]byte, error) {
	for _, p := range PodmanProfilePaths {
		base, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		prof, err := NoUserNamespaces(base)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return prof, nil
	}
	return nil, fmt.Errorf("%w in %s: install containers-common (apt-get install -y golang-github-containers-common), which podman applies by default, so that berth can refuse user namespaces on top of it", ErrNoPodmanProfile, strings.Join(PodmanProfilePaths, " or "))
}
