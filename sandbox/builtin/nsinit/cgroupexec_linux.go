package nsinit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
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
	if os.Getpid() == 1 {
		return superviseAsPid1(bin, argv)
	}
	err = syscall.Exec(bin, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "berth cgroup-exec: %s: %v\n", bin, err)
	return ExitNotExec
}

// superviseAsPid1 runs argv as the only child of this process, the init
// of a pid namespace berth made for it (the nspawn sandbox does, for
// systemd-nspawn), and returns its status. The point is this process's
// death: berth's death kills it (parent-death signal), and the kernel
// then kills everything in the namespace, the container nspawn made
// inside included, which nspawn's own death does not always do.
// Termination signals reach the child from berth directly (it signals
// the process group): here they are only kept from ending the init
// before the child.
func superviseAsPid1(bin string, argv []string) int {
	// The namespace's own /proc (berth made a mount namespace with it):
	// nspawn finds its children by their pids, which the host's /proc
	// would not know.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fmt.Fprintf(os.Stderr, "berth cgroup-exec: making / private: %v\n", err)
		return ExitSetup
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		fmt.Fprintf(os.Stderr, "berth cgroup-exec: mounting /proc: %v\n", err)
		return ExitSetup
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	go func() {
		for range sigs {
		}
	}()
	pid, err := forkExec(bin, argv, &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{0, 1, 2}})
	if err != nil {
		return startFailed(bin, err)
	}
	for {
		var ws unix.WaitStatus
		p, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return ExitSetup
		}
		if p != pid {
			continue
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
}
