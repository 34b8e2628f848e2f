package proc

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

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
//
// It returns only when the killed processes are gone, not merely
// signalled: SIGKILL takes effect when the process next runs, which on a
// loaded machine can be many milliseconds after kill(2) returns, and until
// then it still holds its files, mounts and cgroup. It waits for that up
// to killWait, then gives up on a process stuck in the kernel.
func KillTree(pid int, marker string) {
	// Killing the group is atomic with respect to fork; whether it hit
	// anything decides if the walk below must be confirmed by a scan.
	killed := syscall.Kill(-pid, syscall.SIGKILL) == nil
	needle := []byte(MarkerVar + "=" + marker + "\x00")
	self := os.Getpid()
	signalled := map[int]bool{}
	deadline := time.Now().Add(killWait)
	pause := 100 * time.Microsecond
	for range 10000 {
		live, dead := treeMembers(pid, needle, self)
		reap(dead)
		if len(live) == 0 && killed {
			// The children lists are read without a lock: a process that
			// was being reparented while its parent died can be missing
			// from both lists. After a kill, confirm with a full scan.
			live, dead = scanMembers(pid, needle, self)
			reap(dead)
		}
		if len(live) == 0 {
			return
		}
		fresh := false
		for _, p := range live {
			if !signalled[p] {
				fresh, signalled[p] = true, true
			}
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		killed = true
		if !fresh {
			// Everything left has been killed already and is on its way
			// out: give it time to run and die rather than spin.
			if time.Now().After(deadline) {
				return
			}
			time.Sleep(pause)
			pause = min(2*pause, 10*time.Millisecond)
		}
	}
}

// killWait bounds how long KillTree waits for killed processes to exit (a
// process in uninterruptible sleep, on a hung NFS or FUSE mount, may not).
const killWait = 5 * time.Second

// reap collects orphans of the tree that berth inherited as subreaper.
func reap(zombies []int) {
	for _, p := range zombies {
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(p, &ws, syscall.WNOHANG, nil)
	}
}

// Alive lists the processes of the tree that still exist.
func Alive(pid int, marker string) []int {
	live, _ := treeMembers(pid, []byte(MarkerVar+"="+marker+"\x00"), os.Getpid())
	return live
}

// treeMembers returns the live members of the tree rooted at root, and
// its zombies that berth must reap (children of berth other than root,
// which exec.Cmd reaps). It walks down from berth through the kernel's
// children lists where it can, which reads a handful of files instead
// of every process's.
func treeMembers(root int, needle []byte, self int) (live, zombies []int) {
	if live, zombies, ok := walkMembers(root, needle, self); ok {
		return live, zombies
	}
	return scanMembers(root, needle, self)
}

// walkMembers finds the tree among berth's descendants. The tree's root
// is berth's child, and every orphan of the tree is too (berth is their
// subreaper), so the tree is what hangs below those children: a process
// whose parent belongs to the tree belongs to it.
func walkMembers(root int, needle []byte, self int) (live, zombies []int, ok bool) {
	children, ok := childrenOf(self)
	if !ok {
		return nil, nil, false
	}
	type node struct {
		pid    int
		member bool
	}
	queue := make([]node, 0, len(children))
	for _, c := range children {
		queue = append(queue, node{pid: c})
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		st, found := stat(n.pid)
		if !found {
			continue
		}
		member := n.member || st.pgid == root || st.sid == root
		if !member && n.pid != root && st.state != "Z" {
			member = hasMarker(n.pid, needle)
		}
		if st.state == "Z" {
			if member && st.ppid == self && n.pid != root {
				zombies = append(zombies, n.pid)
			}
			continue
		}
		if member {
			live = append(live, n.pid)
		}
		grand, _ := childrenOf(n.pid)
		for _, g := range grand {
			queue = append(queue, node{pid: g, member: member})
		}
	}
	return live, zombies, true
}

// hasMarker reports whether pid's environment holds needle. A process
// in the middle of execve shows an empty or unreadable environment for a
// moment (longer on a loaded machine): such a read is retried, for up to
// half a second, rather than taken as "not ours".
func hasMarker(pid int, needle []byte) bool {
	file := "/proc/" + strconv.Itoa(pid) + "/environ"
	for try := 0; try < 500; try++ {
		env, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			return false
		}
		if err == nil && len(env) > 0 {
			return bytes.Contains(append(env, 0), needle)
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

// childrenOf reads the children of every thread of pid; ok is false when
// the kernel does not publish children lists.
func childrenOf(pid int) ([]int, bool) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	d, err := os.Open(dir)
	if err != nil {
		return nil, false
	}
	tids, _ := d.Readdirnames(-1)
	d.Close()
	var out []int
	seen := false
	for _, tid := range tids {
		b, err := os.ReadFile(dir + "/" + tid + "/children")
		if err != nil {
			continue
		}
		seen = true
		for _, f := range bytes.Fields(b) {
			if c, err := strconv.Atoi(string(f)); err == nil {
				out = append(out, c)
			}
		}
	}
	return out, seen
}

// scanMembers is the fallback: look at every process, then add the
// descendants of members, as walkMembers does.
func scanMembers(root int, needle []byte, self int) (live, zombies []int) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, nil
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	stats := map[int]procStat{}
	member := map[int]bool{}
	for _, name := range names {
		p, err := strconv.Atoi(name)
		if err != nil || p == self {
			continue
		}
		st, ok := stat(p)
		if !ok || st.ppid == 2 || p == 2 { // kernel threads
			continue
		}
		stats[p] = st
		m := st.pgid == root || st.sid == root
		if !m && (st.ppid == self || st.ppid == 1) && st.state != "Z" {
			m = hasMarker(p, needle)
		}
		member[p] = m
	}
	for changed := true; changed; {
		changed = false
		for p, st := range stats {
			if !member[p] && member[st.ppid] {
				member[p], changed = true, true
			}
		}
	}
	for p, st := range stats {
		switch {
		case !member[p]:
		case st.state == "Z":
			if st.ppid == self && p != root {
				zombies = append(zombies, p)
			}
		default:
			live = append(live, p)
		}
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
