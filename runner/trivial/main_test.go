package trivial_test

import (
	"os"
	"testing"

	"github.com/berth-dev/berth/sandbox/sandboxtest"
)

// TestMain fails the package if its runs changed the host's mount table.
func TestMain(m *testing.M) { os.Exit(sandboxtest.RunKeepingMountTable(m)) }
