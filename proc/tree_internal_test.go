package proc

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The walk down berth's children lists and the scan of every process
// must find the same tree: the scan is the fallback for kernels without
// children lists.
func TestWalkAndScanFindTheSameTree(t *testing.T) {
	becomeSubreaper()
	marker := "tree-test-" + strconv.Itoa(os.Getpid())
	cmd := exec.Command("/bin/sh", "-c", `sleep 30 & (sleep 30 &) ; setsid sleep 30 & sleep 30`)
	cmd.Env = []string{"PATH=/usr/bin:/bin", MarkerVar + "=" + marker}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	root := cmd.Process.Pid
	t.Cleanup(func() { KillTree(root, marker); cmd.Wait() })
	needle := []byte(MarkerVar + "=" + marker + "\x00")
	var walked, scanned []int
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var ok bool
		walked, _, ok = walkMembers(root, needle, os.Getpid())
		if !ok {
			t.Skip("this kernel publishes no children lists; only the scan runs here")
		}
		scanned, _ = scanMembers(root, needle, os.Getpid())
		if len(walked) >= 5 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	slices.Sort(walked)
	slices.Sort(scanned)
	if len(walked) < 5 || !slices.Equal(walked, scanned) {
		t.Errorf("walk found %v, scan found %v; want the same 5 or more processes", walked, scanned)
	}
}
