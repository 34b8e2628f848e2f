package docker

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// reaperScript is the whole program of a container's reaper (run by
// /bin/sh; the container name and the engine command come as
// positional parameters, never inside the script): it waits for a line
// on stdin, which berth writes once the run's container is taken care
// of. End of file instead means berth died (SIGKILL, a crash): then it
// kills and removes the container, twice a second apart in case the
// engine was still creating it when the client died.
const reaperScript = `name=$1; shift
read -r _ && exit 0
for try in 1 2; do "$@" kill "$name"; "$@" rm -f "$name"; sleep 1; done >/dev/null 2>&1`

// ReaperArgs is the command line of the reaper of container name,
// driven by the engine command bin globalArgs...
func ReaperArgs(name, bin string, globalArgs []string) []string {
	return append([]string{"/bin/sh", "-c", reaperScript, "berth-container-reaper", name, bin}, globalArgs...)
}

// reaper outlives berth to remove a container its death would leave
// running: the engine's client dies with berth (parent-death signal),
// the container does not.
type reaper struct {
	cmd *exec.Cmd
	w   *os.File
}

// startReaper starts the reaper of container name in a session of its
// own, outside every process tree berth kills, with no parent-death
// signal.
func (r *Runner) startReaper(name string) (*reaper, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	args := ReaperArgs(name, r.eng.Binary, r.eng.GlobalArgs)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = pr
	cmd.Env = os.Environ() // DOCKER_HOST & co., as for the client
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	pr.Close()
	if err != nil {
		pw.Close()
		return nil, fmt.Errorf("starting the container's reaper: %w", err)
	}
	return &reaper{cmd: cmd, w: pw}, nil
}

// stop tells the reaper that berth has dealt with the container, and
// reaps it.
func (p *reaper) stop() {
	if p == nil {
		return
	}
	_, _ = p.w.Write([]byte("done\n"))
	p.w.Close()
	go func() { _ = p.cmd.Wait() }()
}

// envFile returns a file that exists only in memory (a memfd, never on
// disk, gone with its last descriptor) holding content, for the client
// to read as its --env-file through /dev/fd.
func envFile(content []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate("berth-env", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("creating the env file in memory: %w", err)
	}
	f := os.NewFile(uintptr(fd), "berth-env")
	if _, err := f.Write(content); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing the env file: %w", err)
	}
	return f, nil
}
