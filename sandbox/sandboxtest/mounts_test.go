package sandboxtest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestOnlyThisTestsTempDirsCount(t *testing.T) {
	tmp := filepath.Clean(os.TempDir())
	tests := []struct {
		name, mountPoint, own string
		ignored               bool
	}{
		{"another test's tmpfs below a read-only path", tmp + "/TestMountsBelowAReadOnlyPath123/001/ro/sub", "TestAdversarialAddonsAreContained", true},
		{"this test's own directories count", tmp + "/TestAdversarialAddonsAreContained42/001/work", "TestAdversarialAddonsAreContained", false},
		{"and its subtests'", tmp + "/TestAdversarialAddonsAreContainedafork_bomb7/001", "TestAdversarialAddonsAreContained", false},
		{"a mount elsewhere in the temporary directory counts", tmp + "/proc-again", "TestX", false},
		{"a mount outside it counts", "/mnt/x", "TestX", false},
		{"for a whole package every test's directory is left out", tmp + "/TestX1/001", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := otherTestsDirs(tt.mountPoint, tt.own); got != tt.ignored {
				t.Errorf("otherTestsDirs(%q, %q) = %v, want %v", tt.mountPoint, tt.own, got, tt.ignored)
			}
		})
	}
}

func TestMountsOfEnginesAndDeliberateTestMountsAreLeftOut(t *testing.T) {
	for _, p := range []string{"/var/lib/docker/overlay2/x/merged", "/var/tmp/berth-test-123/sub/deeper", "/var/cache/berth-vm/root/proc"} {
		if !slices.ContainsFunc(engineMounts, func(e string) bool { return leftOut(p, e) }) {
			t.Errorf("%s counts", p)
		}
	}
	for _, p := range []string{"/var/tmp/x", "/tmp/proc-again", "/var/lib/dockerx"} {
		if slices.ContainsFunc(engineMounts, func(e string) bool { return leftOut(p, e) }) {
			t.Errorf("%s is left out", p)
		}
	}
}
