package nsinit

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// deniedSyscalls are what an addon never needs and what a sandbox escape
// or a host attack would: mounting, namespaces, tracing other processes,
// loading kernel code, changing the clock or the machine.
var deniedSyscalls = append([]uintptr{
	unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT, unix.SYS_CHROOT,
	unix.SYS_FSOPEN, unix.SYS_FSMOUNT, unix.SYS_FSCONFIG, unix.SYS_FSPICK,
	unix.SYS_MOVE_MOUNT, unix.SYS_OPEN_TREE, unix.SYS_OPEN_TREE_ATTR, unix.SYS_MOUNT_SETATTR,
	unix.SYS_SETNS, unix.SYS_UNSHARE,
	unix.SYS_PTRACE, unix.SYS_PROCESS_VM_READV, unix.SYS_PROCESS_VM_WRITEV, unix.SYS_PIDFD_GETFD,
	unix.SYS_KEXEC_LOAD, unix.SYS_KEXEC_FILE_LOAD, unix.SYS_BPF, unix.SYS_PERF_EVENT_OPEN,
	unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE,
	unix.SYS_REBOOT, unix.SYS_SWAPON, unix.SYS_SWAPOFF, unix.SYS_ACCT, unix.SYS_QUOTACTL,
	unix.SYS_KEYCTL, unix.SYS_ADD_KEY, unix.SYS_REQUEST_KEY,
	unix.SYS_USERFAULTFD, unix.SYS_OPEN_BY_HANDLE_AT, unix.SYS_LOOKUP_DCOOKIE,
	unix.SYS_SYSLOG, unix.SYS_VHANGUP, unix.SYS_SETHOSTNAME, unix.SYS_SETDOMAINNAME,
	unix.SYS_SETTIMEOFDAY, unix.SYS_CLOCK_SETTIME, unix.SYS_ADJTIMEX, unix.SYS_CLOCK_ADJTIME,
	// A large kernel attack surface no addon needs.
	unix.SYS_IO_URING_SETUP, unix.SYS_IO_URING_ENTER, unix.SYS_IO_URING_REGISTER,
}, archDeniedSyscalls...)

// namespaceFlags are the clone flags that would create namespaces.
const namespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
	unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

const (
	retAllow = unix.SECCOMP_RET_ALLOW
	retEPERM = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	// clone3 passes its flags in memory, out of a filter's reach: answer
	// ENOSYS so libc falls back to clone, whose flags are checked.
	retENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	retKill   = unix.SECCOMP_RET_KILL_PROCESS

	offNr   = 0
	offArch = 4
	offArg0 = 16 // low 32 bits on little-endian machines
	ldAbs   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	jeq     = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	jge     = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	jset    = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	ret     = unix.BPF_RET | unix.BPF_K
	x32Flag = 0x40000000
)

// seccompFilter returns the BPF program: a foreign architecture kills
// the process, denied calls fail with EPERM, everything else is allowed.
func seccompFilter() []unix.SockFilter {
	f := []unix.SockFilter{
		{Code: ldAbs, K: offArch},
		{Code: jeq, Jt: 1, K: auditArch},
		{Code: ret, K: retKill},
		{Code: ldAbs, K: offNr},
	}
	if hasX32 {
		f = append(f, unix.SockFilter{Code: jge, Jt: 0, Jf: 1, K: x32Flag}, unix.SockFilter{Code: ret, K: retEPERM})
	}
	for _, nr := range deniedSyscalls {
		f = append(f,
			unix.SockFilter{Code: jeq, Jt: 0, Jf: 1, K: uint32(nr)},
			unix.SockFilter{Code: ret, K: retEPERM})
	}
	f = append(f,
		unix.SockFilter{Code: jeq, Jt: 0, Jf: 1, K: unix.SYS_CLONE3},
		unix.SockFilter{Code: ret, K: retENOSYS},
		unix.SockFilter{Code: jeq, Jt: 0, Jf: 3, K: unix.SYS_CLONE},
		unix.SockFilter{Code: ldAbs, K: offArg0},
		unix.SockFilter{Code: jset, Jt: 0, Jf: 1, K: namespaceFlags},
		unix.SockFilter{Code: ret, K: retEPERM},
		unix.SockFilter{Code: ret, K: retAllow},
	)
	return f
}

// installSeccomp sets no_new_privs and loads the filter on the calling
// thread (the init's locked thread), so that only what it starts is
// filtered.
func installSeccomp() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	filter := seccompFilter()
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if _, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog))); errno != 0 {
		return fmt.Errorf("seccomp: %w", errno)
	}
	return nil
}
