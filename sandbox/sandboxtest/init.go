package sandboxtest

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/sandbox/builtin"
)

// BuildInit builds cmd/berth-sandbox-init, the dedicated init of the
// builtin sandbox, into dir ("" = a temporary directory of tb) and
// returns its path (the go command's build cache makes this quick after
// the first time).
func BuildInit(tb testing.TB, dir string) string {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
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
