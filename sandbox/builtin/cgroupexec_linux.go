package builtin

import (
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
