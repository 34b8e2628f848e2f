package sandboxtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/sandbox/builtin"
)

// BuildInit builds cmd/berth-sandbox-init, the dedicated init of the
// builtin sandbox, into dir ("" = a temporary directory of tb) and
// returns its path (the go command's build cache makes this quick after
// the first time). A prebuilt init in $BERTH_TEST_INIT is used (copied
// into dir) instead: suites run as another user, who may have no Go
// module cache (.ci/nonroot-tests.sh).
func BuildInit(tb testing.TB, dir string) string {
	tb.Helper()
	prebuilt := os.Getenv("BERTH_TEST_INIT")
	if prebuilt != "" && dir == "" {
		return prebuilt
	}
	if dir == "" {
		dir = tb.TempDir()
	}
	if prebuilt != "" {
		b, err := os.ReadFile(prebuilt)
		if err != nil {
			tb.Fatalf("BERTH_TEST_INIT: %v", err)
		}
		bin := filepath.Join(dir, builtin.InitName)
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			tb.Fatal(err)
		}
		return bin
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		tb.Fatalf("building %s needs the go command: %v", builtin.InitName, err)
	}
	bin := filepath.Join(dir, builtin.InitName)
	out, err := exec.Command(goBin, "build", "-o", bin, "github.com/berth-dev/berth/cmd/berth-sandbox-init").CombinedOutput()
	if err != nil {
		tb.Fatalf("building %s: %v\n%s", builtin.InitName, err, out)
	}
	return bin
}

// BuildPtraceStop builds testdata/ptracestop, a static program that
// ptrace-stops pid 1 of its pid namespace and holds it (issue 18), into
// a temporary directory of tb and returns its path; $BERTH_TEST_PTRACESTOP
// names a prebuilt one (for suites run as another user).
func BuildPtraceStop(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("BERTH_TEST_PTRACESTOP"); p != "" {
		return p
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		tb.Fatalf("building ptracestop needs the go command: %v", err)
	}
	bin := filepath.Join(tb.TempDir(), "ptracestop")
	cmd := exec.Command(goBin, "build", "-o", bin, "github.com/berth-dev/berth/sandbox/sandboxtest/testdata/ptracestop")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("building ptracestop: %v\n%s", err, out)
	}
	return bin
}
