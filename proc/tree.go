package proc

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// KillTree sends SIGKILL to every process that belongs to the tree rooted
// at pid: its process group and session (both equal to pid, since Run
// makes the program a session leader), and any process whose environment
// carries MarkerVar=marker, which finds daemons that called setsid. It
// repeats until a scan finds nothing, so a fork bomb cannot outrun it.
func KillTree(pid int, marker string) {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	needle := []byte(MarkerVar + "=" + marker + "\x00")
	self := os.Getpid()
	for range 100 {
		pids := treeMembers(pid, needle, self)
		if len(pids) == 0 {
			return
		}
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
}

// Alive lists the processes of the tree that still exist.
func Alive(pid int, marker string) []int {
	return treeMembers(pid, []byte(MarkerVar+"="+marker+"\x00"), os.Getpid())
}

func treeMembers(root int, needle []byte, self int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil || p == self {
			continue
		}
		if pgid, sid, state, ok := stat(p); ok {
			if state == "Z" {
				continue
			}
			if pgid == root || sid == root {
				out = append(out, p)
				continue
			}
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err == nil && (bytes.Contains(env, needle) || bytes.HasSuffix(append(env, 0), needle)) {
			out = append(out, p)
		}
	}
	return out
}

// stat reads the process group, session and state from /proc/PID/stat.
func stat(pid int) (pgid, sid int, state string, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, "", false
	}
	// The command name is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, "", false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 5 {
		return 0, 0, "", false
	}
	pgid, _ = strconv.Atoi(f[2])
	sid, _ = strconv.Atoi(f[3])
	return pgid, sid, f[0], true
}
