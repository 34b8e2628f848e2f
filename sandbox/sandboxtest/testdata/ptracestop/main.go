// Command ptracestop is a hostile test program (issue 18, "an addon can
// ptrace-stop its container's pid 1 so the run hangs until the
// timeout"): it attaches to pid 1 of its pid namespace, waits until it
// is stopped and then holds it so, for ever. It prints "refused: ERR"
// when the kernel or a seccomp filter refuses the attach and exits 0, so
// the run goes on.
package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
)

func main() {
	runtime.LockOSThread()
	pid := 1
	if err := syscall.PtraceAttach(pid); err != nil {
		fmt.Fprintf(os.Stderr, "ptracestop: refused: %v\n", err)
		fmt.Println("refused")
		return
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, syscall.WALL, nil); err != nil {
		fmt.Fprintf(os.Stderr, "ptracestop: wait: %v\n", err)
	}
	fmt.Println("stopped")
	os.Stdout.Close()
	for {
		time.Sleep(time.Hour)
	}
}
