package proc

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

var subreaper sync.Once

// becomeSubreaper makes berth the parent of every orphan of the programs
// it starts, so a daemon that double-forked out of an addon's session
// is still found (its parent is berth) and reaped. Failure is harmless:
// orphans then go to pid 1, which KillTree also checks.
func becomeSubreaper() {
	subreaper.Do(func() { _ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) })
}

// KillTree sends SIGKILL to every process that belongs to the tree rooted
// at pid: its process group and session (both equal to pid, since Run
// makes the program a session leader), and any orphan (parent berth or
// pid 1) whose environment carries MarkerVar=marker, which finds daemons
// that called setsid. It repeats until a scan finds nothing, so a fork
// bomb cannot outrun it, and reaps the orphans it killed.
func KillTree(pid int, marker string) {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	needle := []byte(MarkerVar + "=" + marker + "\x00")
	self := os.Getpid()
	for range 100 {
		live, dead := treeMembers(pid, needle, self)
		for _, p := range dead {
			// An orphan of the tree that berth inherited as subreaper.
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(p, &ws, syscall.WNOHANG, nil)
		}
		if len(live) == 0 {
			return
		}
		for _, p := range live {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
}

// Alive lists the processes of the tree that still exist.
func Alive(pid int, marker string) []int {
	live, _ := treeMembers(pid, []byte(MarkerVar+"="+marker+"\x00"), os.Getpid())
	return live
}

// treeMembers returns the live members of the tree rooted at root, and
// its zombies that berth must reap (children of berth other than root,
// which exec.Cmd reaps).
func treeMembers(root int, needle []byte, self int) (live, zombies []int) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, nil
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, name := range names {
		p, err := strconv.Atoi(name)
		if err != nil || p == self {
			continue
		}
		st, ok := stat(p)
		if !ok || st.ppid == 2 || p == 2 { // kernel threads
			continue
		}
		member := st.pgid == root || st.sid == root
		if !member && (st.ppid == self || st.ppid == 1) && st.state != "Z" {
			env, err := os.ReadFile("/proc/" + name + "/environ")
			member = err == nil && bytes.Contains(append(env, 0), needle)
		}
		if !member {
			continue
		}
		if st.state == "Z" {
			if st.ppid == self && p != root {
				zombies = append(zombies, p)
			}
			continue
		}
		live = append(live, p)
	}
	return live, zombies
}

type procStat struct {
	state           string
	ppid, pgid, sid int
}

// stat reads /proc/PID/stat.
func stat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// The command name is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 5 {
		return procStat{}, false
	}
	var st procStat
	st.state = string(f[0])
	st.ppid, _ = strconv.Atoi(string(f[1]))
	st.pgid, _ = strconv.Atoi(string(f[2]))
	st.sid, _ = strconv.Atoi(string(f[3]))
	return st, true
}
