package sandboxtest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// engineMounts are mount points that container engines running beside
// the tests (dockerd, podman, other suites) add and remove in the host's
// mount namespace all the time: not berth's.
// Also left out: where tests mount on the host on purpose
// (/var/tmp/berth-test-*: a tmpfs below a read-only path) and the
// chroot of the VM job's image build (.ci/vm/image.sh, debootstrap).
var engineMounts = []string{"/var/lib/docker/", "/run/docker/", "/var/lib/containers/", "/run/containers/", "/run/netns/", "/run/user/", "/var/run/docker/",
	"/var/tmp/berth-test-", "/var/cache/berth-vm/"}

// leftOut tells whether mountPoint is below prefix (a directory ending
// in "/", or the start of a name ending in "-").
func leftOut(mountPoint, prefix string) bool {
	if strings.HasSuffix(prefix, "-") {
		return strings.HasPrefix(mountPoint, prefix)
	}
	return strings.HasPrefix(mountPoint+"/", prefix)
}

// MountTable is this process's mount table (/proc/self/mountinfo), one
// mount a line, without the mounts of engineMounts.
func MountTable() ([]string, error) { return mountTable("") }

// otherTestsDirs is the start of the mount points of t.TempDir()s
// ($TMPDIR/TestName123…): tests that mount on the host on purpose (a
// tmpfs below a read-only path) do it there, and the mount namespace
// is shared by every test binary running at the same time (go test
// runs packages in parallel). Only the dirs of the test being checked
// (own) count.
func otherTestsDirs(mountPoint, own string) bool {
	rel, ok := strings.CutPrefix(mountPoint, filepath.Clean(os.TempDir())+"/")
	return ok && strings.HasPrefix(rel, "Test") && (own == "" || !strings.HasPrefix(rel, own))
}

func mountTable(own string) ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || slices.ContainsFunc(engineMounts, func(p string) bool { return leftOut(f[4], p) }) || otherTestsDirs(f[4], own) {
			continue
		}
		out = append(out, line)
	}
	return out, nil
}

// diffMounts says which lines of after are new and which of before are gone.
func diffMounts(before, after []string) (added, removed []string) {
	for _, l := range after {
		if !slices.Contains(before, l) {
			added = append(added, l)
		}
	}
	for _, l := range before {
		if !slices.Contains(after, l) {
			removed = append(removed, l)
		}
	}
	return added, removed
}

// KeepMountTable fails t if, when t ends, this process's mount table
// differs from what it is now: nothing a sandbox mounts may reach the
// host's mount namespace (issue 19).
func KeepMountTable(t testing.TB) {
	t.Helper()
	// The start of t.TempDir's names for this test (and its subtests),
	// as the testing package makes them.
	own := t.Name()
	own = strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsNumber(r) || strings.ContainsRune("!#$%&()+,-.=@^_{}~ ", r) {
			return r
		}
		return -1
	}, own[:min(len(own), 64)])
	before, err := mountTable(own)
	if err != nil {
		t.Fatalf("reading the mount table: %v", err)
	}
	t.Cleanup(func() {
		after, err := mountTable(own)
		if err != nil {
			t.Errorf("reading the mount table: %v", err)
			return
		}
		if added, removed := diffMounts(before, after); len(added)+len(removed) > 0 {
			t.Errorf("the test changed the host's mount table (or a process outside the tests mounted at the same moment):\nadded:\n%s\nremoved:\n%s", strings.Join(added, "\n"), strings.Join(removed, "\n"))
		}
	})
}

// RunKeepingMountTable is m.Run for a TestMain, failing the package if
// its tests together changed this process's mount table.
func RunKeepingMountTable(m *testing.M) int {
	before, err := MountTable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "reading the mount table:", err)
		return 1
	}
	code := m.Run()
	after, err := MountTable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "reading the mount table:", err)
		return 1
	}
	if added, removed := diffMounts(before, after); len(added)+len(removed) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the tests changed the host's mount table (or a process outside the tests mounted at the same moment):\nadded:\n%s\nremoved:\n%s\n", strings.Join(added, "\n"), strings.Join(removed, "\n"))
		return 1
	}
	return code
}
