package builtin

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// cgroupExecArg, as the first argument, makes the berth binary write
// itself into the cgroup.procs files it was given (fd 3 on) and then
// exec the rest of its arguments: a way into cgroup v1 groups for
// programs berth starts but does not control, such as systemd-nspawn.
const cgroupExecArg = "__berth-cgroup-exec__"

// CgroupExec returns the path and arguments that run argv inside the
// cgroups whose cgroup.procs files the caller passes as the first n
// ExtraFiles. initPath is the berth binary ("" = /proc/self/exe).
func CgroupExec(initPath string, n int, argv []string) (string, []string) {
	if initPath == "" {
		initPath = "/proc/self/exe"
	}
	return initPath, append([]string{cgroupExecArg, strconv.Itoa(n)}, argv...)
}

func cgroupExec() int {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "berth cgroup-exec: usage: N PROGRAM [ARG...]")
		return exitSetup
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintf(os.Stderr, "berth cgroup-exec: %v\n", err)
		return exitSetup
	}
	for i := 0; i < n; i++ {
		f := os.NewFile(uintptr(3+i), "cgroup.procs")
		_, err := f.Write([]byte("0"))
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "berth cgroup-exec: joining cgroup: %v\n", err)
			return exitSetup
		}
	}
	argv := os.Args[3:]
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "berth cgroup-exec: %v\n", err)
		return exitNotFound
	}
	err = syscall.Exec(bin, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "berth cgroup-exec: %s: %v\n", bin, err)
	return exitNotExec
}
