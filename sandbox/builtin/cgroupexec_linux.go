package builtin

import (
	"os"
	"strconv"

	"github.com/berth-dev/berth/sandbox/builtin/nsinit"
)

// CgroupExec returns the path and arguments that run argv inside the
// cgroups whose cgroup.procs files the caller passes as the first n
// ExtraFiles. initPath is the sandbox's init binary ("" = the one
// DefaultInitPath finds).
func CgroupExec(initPath string, n int, argv []string) (string, []string) {
	if initPath == "" {
		initPath = DefaultInitPath()
	}
	return initPath, append([]string{nsinit.CgroupExecArg, strconv.Itoa(n)}, argv...)
}

// SudoKeeper is the command line that runs argv (sudo and its command)
// below the keeper of initPath ("" for the default), which passes
// berth's death on to sudo as SIGTERM (see nsinit.SudoKeeperArg).
func SudoKeeper(initPath string, argv []string) (string, []string) {
	if initPath == "" {
		initPath = DefaultInitPath()
	}
	return initPath, append([]string{nsinit.SudoKeeperArg, strconv.Itoa(os.Getpid())}, argv...)
}
