package nsinit

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// CgroupExecArg, as the first argument, makes the init binary write
// itself into the cgroup.procs files it was given (fd 3 on) and then
// exec the rest of its arguments: a way into cgroup v1 groups for
// programs berth starts but does not control, such as systemd-nspawn.
// The arguments are: CgroupExecArg, the number of files, the program
// and its arguments.
const CgroupExecArg = "__berth-cgroup-exec__"

func cgroupExec() int {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "berth cgroup-exec: usage: N PROGRAM [ARG...]")
		return ExitSetup
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintf(os.Stderr, "berth cgroup-exec: %v\n", err)
		return ExitSetup
	}
	for i := 0; i < n; i++ {
		f := os.NewFile(uintptr(3+i), "cgroup.procs")
		_, err := f.Write([]byte("0"))
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "berth cgroup-exec: joining cgroup: %v\n", err)
			return ExitSetup
		}
	}
	argv := os.Args[3:]
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "berth cgroup-exec: %v\n", err)
		return ExitNotFound
	}
	err = syscall.Exec(bin, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "berth cgroup-exec: %s: %v\n", bin, err)
	return ExitNotExec
}
