package nsinit

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// SudoKeeperArg, as the first argument, makes the init binary the
// keeper of a command berth runs through sudo (nspawn.sudo): the
// kernel clears the parent-death signal when a set-user-ID program such
// as sudo starts, so berth's death (SIGKILL) would leave sudo, nspawn
// and the container running. The keeper is not set-user-ID: it gets
// SIGTERM when berth dies and passes it to sudo, which relays it to
// nspawn, which kills the container. The arguments are: SudoKeeperArg,
// berth's pid, the program (sudo) and its arguments.
const SudoKeeperArg = "__berth-sudo-keeper__"

// keeperPdeathErr is what setting the keeper's parent-death signal
// returned. berth starts its children with SIGKILL as that signal (a
// killed keeper keeps nothing), which the kernel keeps per thread and
// sends only from the thread it was set on: the main one, where the
// runtime runs package initialisers. So it is changed there, before
// main, and only in the keeper.
var keeperPdeathErr = func() error {
	if len(os.Args) > 1 && os.Args[1] == SudoKeeperArg {
		return unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGTERM), 0, 0, 0)
	}
	return nil
}()

func sudoKeeper() int {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "berth sudo-keeper: usage: PARENT-PID PROGRAM [ARG...]")
		return ExitSetup
	}
	parent, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintf(os.Stderr, "berth sudo-keeper: %v\n", err)
		return ExitSetup
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	if keeperPdeathErr != nil {
		fmt.Fprintf(os.Stderr, "berth sudo-keeper: setting the parent-death signal: %v\n", keeperPdeathErr)
		return ExitSetup
	}
	// A SIGTERM that came before Notify was lost with the process; one
	// after it waits in sigs. berth gone already: start nothing.
	if os.Getppid() != parent {
		// berth died before the signal was set: start nothing.
		return ExitSetup
	}
	argv := os.Args[3:]
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "berth sudo-keeper: %v\n", err)
		return ExitNotFound
	}
	// sudo in a process group of its own: it does not relay a signal
	// sent from its own group (sudo's exec_nopty.c: such a signal would
	// have reached its command already), so the keeper's must come from
	// outside it. berth signals the keeper's group; the keeper passes
	// each signal on.
	pid, err := forkExec(bin, argv, &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{0, 1, 2}, Sys: &syscall.SysProcAttr{Setpgid: true}})
	if err != nil {
		return startFailed(bin, err)
	}
	done := make(chan unix.WaitStatus, 1)
	go func() {
		for {
			var ws unix.WaitStatus
			p, err := unix.Wait4(pid, &ws, 0, nil)
			if err == unix.EINTR {
				continue
			}
			if err != nil || p == pid {
				done <- ws
				return
			}
		}
	}()
	for {
		select {
		case sig := <-sigs:
			// sudo runs with berth's user as its real uid: the keeper may
			// signal it, and sudo relays the signal to its command.
			_ = unix.Kill(pid, sig.(syscall.Signal))
		case ws := <-done:
			if ws.Signaled() {
				return 128 + int(ws.Signal())
			}
			return ws.ExitStatus()
		}
	}
}
