package proc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// MarkerVar is set in every process berth starts, with a value unique to
// the run, so that descendants which left the session can still be found.
const MarkerVar = "BERTH_RUN"

// Defaults used when a Spec leaves the field zero.
const (
	DefaultKillGrace  = 3 * time.Second
	DefaultStderrTail = 50
)

// ErrOutputTooLarge is returned when stdout exceeds Spec.StdoutCap; the
// process tree has been killed.
var ErrOutputTooLarge = errors.New("stdout exceeded the output cap")

// Spec says what to run and how. Env is the complete environment: nothing
// is inherited from berth's own.
type Spec struct {
	Path string
	Args []string // without argv[0]
	Dir  string
	Env  []string

	Stdin io.Reader
	// StdoutCap bounds captured stdout in bytes; 0 means no limit.
	StdoutCap int64
	// DiscardStdout drops stdout instead of keeping it (lines still go to
	// OnStdout).
	DiscardStdout bool
	// OnStdout and OnStderr receive each line as it is read; may be nil.
	OnStdout, OnStderr func(line string)
	// StderrTail is how many of the last stderr lines Result keeps.
	StderrTail int
	// KillGrace is the time between SIGTERM and SIGKILL on cancel.
	KillGrace time.Duration
	// Marker is the value of MarkerVar; empty means "derive from the pid".
	Marker string
	// SysProcAttr lets a sandbox ask for namespaces and credentials;
	// Setsid is always forced on.
	SysProcAttr *syscall.SysProcAttr
	// ExtraFiles are passed to the child as fd 3 onwards.
	ExtraFiles []*os.File
	// OnStart, if set, is called with the pid as soon as the process
	// exists (a sandbox moves it into its cgroups then, while the child
	// is still starting up). An error kills the tree and fails the run.
	OnStart func(pid int) error
}

// Result is what a finished program left.
type Result struct {
	// ExitCode is the exit status; 128+n when killed by signal n.
	ExitCode   int
	Signal     syscall.Signal
	Stdout     []byte
	StderrTail []string
	Duration   time.Duration
	// Killed is true when berth killed the program (cancel, timeout,
	// output cap) rather than it exiting by itself.
	Killed bool
}

// Run starts spec and waits for it. The error is nil when the program ran
// to its end, whatever its exit code; it is ctx.Err() (wrapped) after a
// cancel or timeout, ErrOutputTooLarge after the cap was hit, or a start
// error. In every case no process of the tree is left when Run returns.
func Run(ctx context.Context, spec Spec) (Result, error) {
	if spec.KillGrace <= 0 {
		spec.KillGrace = DefaultKillGrace
	}
	if spec.StderrTail <= 0 {
		spec.StderrTail = DefaultStderrTail
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	becomeSubreaper()

	outR, outW, err := os.Pipe()
	if err != nil {
		return Result{}, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return Result{}, err
	}

	marker := spec.Marker
	if marker == "" {
		marker = strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	path, args := spec.Path, spec.Args
	newCmd := func() *exec.Cmd {
		cmd := exec.Command(path, args...)
		cmd.Dir = spec.Dir
		cmd.Stdin = spec.Stdin
		cmd.Stdout = outW
		cmd.Stderr = errW
		cmd.ExtraFiles = spec.ExtraFiles
		attr := &syscall.SysProcAttr{}
		if spec.SysProcAttr != nil {
			a := *spec.SysProcAttr
			attr = &a
		}
		attr.Setsid = true
		attr.Setpgid = false
		attr.Pdeathsig = syscall.SIGKILL
		cmd.SysProcAttr = attr
		cmd.Env = append(append([]string(nil), spec.Env...), MarkerVar+"="+marker)
		return cmd
	}

	start := time.Now()
	cmd := newCmd()
	err = cmd.Start()
	// A program file that was just written (an addon copied into WORK)
	// can be held open for writing by a child that another goroutine is
	// forking at that moment, until that child execs: "text file busy".
	// It passes within milliseconds; try again rather than fail the run.
	for try := 1; errors.Is(err, syscall.ETXTBSY) && try < 50; try++ {
		time.Sleep(time.Duration(try) * time.Millisecond)
		cmd = newCmd()
		err = cmd.Start()
	}
	// A file the kernel refuses as a program (no "#!" on its first line)
	// runs through /bin/sh, as execvp(3) and Java's ProcessBuilder, which
	// Docspell starts addons with, do: Docspell's own test addons
	// (AddonGenerator.scala:100-101) begin with a blank line.
	if errors.Is(err, syscall.ENOEXEC) {
		path, args = "/bin/sh", append([]string{spec.Path}, spec.Args...)
		cmd = newCmd()
		err = cmd.Start()
	}
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return Result{}, fmt.Errorf("starting %s: %w", spec.Path, err)
	}
	pid := cmd.Process.Pid
	if spec.OnStart != nil {
		if err := spec.OnStart(pid); err != nil {
			KillTree(pid, marker)
			_ = cmd.Wait()
			outR.Close()
			errR.Close()
			return Result{}, fmt.Errorf("starting %s: %w", spec.Path, err)
		}
	}

	overflow := make(chan struct{})
	var overflowOnce sync.Once
	var stdout bytes.Buffer
	var tail tailLines
	tail.max = spec.StderrTail

	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		readLines(outR, func(line []byte) {
			if spec.OnStdout != nil {
				spec.OnStdout(strings.TrimRight(string(line), "\r\n"))
			}
			if spec.DiscardStdout {
				return
			}
			if spec.StdoutCap > 0 && int64(stdout.Len()+len(line)) > spec.StdoutCap {
				overflowOnce.Do(func() { close(overflow) })
				return
			}
			stdout.Write(line)
		})
	}()
	go func() {
		defer readers.Done()
		readLines(errR, func(line []byte) {
			s := strings.TrimRight(string(line), "\r\n")
			tail.add(s)
			if spec.OnStderr != nil {
				spec.OnStderr(s)
			}
		})
	}()

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	var runErr error
	var killed bool
	select {
	case waitErr := <-exited:
		err = waitErr
	case <-ctx.Done():
		runErr = fmt.Errorf("%s: %w", spec.Path, ctx.Err())
		killed = true
		err = terminate(pid, marker, spec.KillGrace, exited)
	case <-overflow:
		runErr = fmt.Errorf("%w (%d bytes)", ErrOutputTooLarge, spec.StdoutCap)
		killed = true
		err = terminate(pid, marker, 0, exited)
	}
	// The program is gone; whatever it left behind goes too.
	KillTree(pid, marker)

	// Once every writer is dead the readers see EOF. A process that hid
	// from KillTree could hold a pipe open: stop waiting after a while,
	// but only then. On a loaded machine the readers can take seconds to
	// be scheduled after the kernel has the pipes' end ready; closing them
	// on a timer alone dropped output that had been written in full
	// (a run "succeeded" with empty stdout).
	readersDone := make(chan struct{})
	go func() { readers.Wait(); close(readersDone) }()
	waitReaders(readersDone, 2*time.Second, func() bool { return hungUp(outR) && hungUp(errR) }, func() {
		KillTree(pid, marker)
		outR.Close()
		errR.Close()
	})
	outR.Close()
	errR.Close()

	res := Result{Stdout: stdout.Bytes(), StderrTail: tail.lines(), Duration: time.Since(start), Killed: killed}
	if runErr == nil {
		select {
		case <-overflow:
			// The cap was hit after the program had already ended.
			runErr = fmt.Errorf("%w (%d bytes)", ErrOutputTooLarge, spec.StdoutCap)
		default:
		}
	}
	if ps := cmd.ProcessState; ps != nil {
		res.ExitCode = ps.ExitCode()
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal()
			res.ExitCode = 128 + int(ws.Signal())
		}
	}
	if runErr != nil {
		return res, runErr
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return res, fmt.Errorf("waiting for %s: %w", spec.Path, err)
	}
	return res, nil
}

// waitReaders waits for done. After patience it asks writersGone: if the
// write ends are all closed, the readers only have to drain what is left
// and are waited for; else abandon (kill what holds a pipe, close the
// read ends) is called, and then done is waited for.
func waitReaders(done <-chan struct{}, patience time.Duration, writersGone func() bool, abandon func()) {
	timer := time.NewTimer(patience)
	defer timer.Stop()
	select {
	case <-done:
		return
	case <-timer.C:
	}
	if !writersGone() {
		abandon()
	}
	<-done
}

// hungUp reports whether every write end of the pipe read by r is closed
// (POLLHUP), asked without taking r out of Go's poller.
func hungUp(r *os.File) bool {
	rc, err := r.SyscallConn()
	if err != nil {
		return false
	}
	hup := false
	_ = rc.Control(func(fd uintptr) {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(pfd, 0); err == nil && n == 1 {
			hup = pfd[0].Revents&unix.POLLHUP != 0
		}
	})
	return hup
}

// terminate sends SIGTERM to the process group, waits up to grace for
// the leader, then kills the whole tree.
func terminate(pid int, marker string, grace time.Duration, exited <-chan error) error {
	if grace > 0 {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(grace):
		}
	}
	KillTree(pid, marker)
	return <-exited
}

func readLines(r io.Reader, fn func([]byte)) {
	br := bufio.NewReaderSize(r, 64*1024)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			fn(line)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return
		}
	}
}

type tailLines struct {
	mu  sync.Mutex
	max int
	buf []string
}

func (t *tailLines) add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.buf) == t.max {
		copy(t.buf, t.buf[1:])
		t.buf = t.buf[:len(t.buf)-1]
	}
	t.buf = append(t.buf, s)
}

func (t *tailLines) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.buf...)
}
