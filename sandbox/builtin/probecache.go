package builtin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/berth-dev/berth/sandbox/builtin/nsinit"
)

// probeKey names everything a successful probe depends on: the boot, the
// user, the init binary and the kernel settings that allow or forbid user
// namespaces. When any of them changes, the key changes and berth probes
// again. ok is false when the key cannot be formed (then berth probes).
func probeKey(initPath string) (key string, ok bool) {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", false
	}
	h := sha256.New()
	fmt.Fprintf(h, "v3\n%s\n%d\n%d\n", strings.TrimSpace(string(boot)), os.Geteuid(), nsinit.Version)
	// The init, and berth itself: a berth-sandbox-init left from another
	// build works no longer once berth changes.
	for _, bin := range []string{initPath, SelfInit} {
		exe, err := filepath.EvalSymlinks(bin)
		if err != nil {
			return "", false
		}
		fi, err := os.Stat(exe)
		if err != nil {
			return "", false
		}
		fmt.Fprintf(h, "%s\n%d\n%d\n", exe, fi.Size(), fi.ModTime().UnixNano())
		// Size and mtime alone miss a rebuilt binary whose mtime was set
		// (nix store: 1; dpkg: SOURCE_DATE_EPOCH; cp -p): the inode
		// changes when a file is replaced, the change time when it is
		// rewritten, and neither can be set back.
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			fmt.Fprintf(h, "%d:%d\n%d.%d\n", st.Dev, st.Ino, st.Ctim.Sec, st.Ctim.Nsec)
		}
	}
	for _, f := range []string{
		"/proc/sys/kernel/unprivileged_userns_clone",
		"/proc/sys/user/max_user_namespaces",
		"/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
	} {
		b, _ := os.ReadFile(f) // absent on many kernels: part of the key all the same
		fmt.Fprintf(h, "%s=%s\n", f, strings.TrimSpace(string(b)))
	}
	return hex.EncodeToString(h.Sum(nil)), true
}

// cachedProbeOK reports whether file records a successful probe under key.
func cachedProbeOK(file, key string) bool {
	if file == "" {
		return false
	}
	b, err := os.ReadFile(file)
	return err == nil && strings.TrimSpace(string(b)) == key
}

// rememberProbe records a successful probe under key; failing to is
// harmless (the next process probes again).
func rememberProbe(file, key string) {
	if file == "" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return
	}
	tmp := file + ".tmp" + fmt.Sprint(os.Getpid())
	if err := os.WriteFile(tmp, []byte(key+"\n"), 0o644); err == nil {
		_ = os.Rename(tmp, file)
	}
}
