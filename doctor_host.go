package berth

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/config"
	"github.com/berth-dev/berth/sandbox"
)

// hostChecks are the checks of what berth itself needs from the host:
// the limits its sandboxed runs get and its directories.
func hostChecks(cfg config.Config) []Check {
	checks := []Check{limitsCheck(cfg)}
	uid := os.Geteuid()
	for _, d := range []struct{ key, dir string }{
		{"working-dir", cfg.WorkingDir}, {"cache-dir", cfg.CacheDir}, {"data-dir", cfg.DataDir},
	} {
		checks = append(checks, dirCheck(d.key, d.dir, uid))
	}
	return checks
}

// limitsCheck says which limits builtin and nspawn runs get here.
func limitsCheck(cfg config.Config) Check {
	c := Check{Name: "sandbox limits", OK: true}
	e, err := sandbox.CheckLimits(cfg.SandboxConfig(cfg.Sandbox))
	if err != nil {
		c.OK, c.Detail = false, err.Error()
		return c
	}
	c.Detail = e.By
	if len(e.Applied) > 0 {
		c.Detail += ": " + strings.Join(e.Applied, ", ")
	}
	if len(e.Missing) > 0 {
		c.Detail += "; not applied: " + strings.Join(e.Missing, ", ")
	}
	switch {
	case e.By == "none":
		c.Detail = "none configured (sandbox-limits)"
	case e.OOMReported:
		c.Detail += "; OOM kills reported"
	default:
		c.Detail += "; OOM kills not reported"
	}
	if e.Why != "" {
		c.OK, c.Fix = false, e.Why
	}
	return c
}

// dirCheck checks one configured directory: it exists (or can be
// created), belongs to berth's user and is not writable by others, who
// could otherwise plant or swap files in runs' directories.
func dirCheck(key, dir string, uid int) Check {
	c := Check{Name: "dir " + key, OK: true}
	who := userName(uid)
	fi, err := os.Stat(dir)
	if err != nil {
		if !os.IsNotExist(err) {
			c.OK, c.Detail = false, err.Error()
			return c
		}
		parent := filepath.Dir(dir)
		for ; parent != "/"; parent = filepath.Dir(parent) {
			if _, err := os.Stat(parent); err == nil {
				break
			}
		}
		if err := unix.Access(parent, unix.W_OK|unix.X_OK); err != nil {
			c.OK = false
			c.Detail = fmt.Sprintf("%s does not exist, and %s may not create it in %s (%v)", dir, who, parent, err)
			c.Fix = fmt.Sprintf("mkdir -p %s && chown %s %s && chmod 0750 %s, or set %s in berth.yaml to a directory of %s's", dir, who, dir, dir, key, who)
			return c
		}
		c.Detail = fmt.Sprintf("%s: will be created (in %s)", dir, parent)
		return c
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	mode := fi.Mode().Perm()
	switch {
	case !fi.IsDir():
		c.OK, c.Detail = false, dir+" is not a directory"
		c.Fix = "set " + key + " in berth.yaml to a directory"
	case st != nil && int(st.Uid) != uid:
		c.OK = false
		c.Detail = fmt.Sprintf("%s belongs to %s, not to %s, whom berth runs as", dir, userName(int(st.Uid)), who)
		c.Fix = fmt.Sprintf("chown -R %s %s, or set %s in berth.yaml to a directory of %s's", who, dir, key, who)
	case mode&0o022 != 0:
		c.OK = false
		c.Detail = fmt.Sprintf("%s is writable by other users (mode %04o): they could change runs' files", dir, mode)
		c.Fix = "chmod go-w " + dir
	case unix.Access(dir, unix.W_OK|unix.X_OK) != nil:
		c.OK = false
		c.Detail = fmt.Sprintf("%s is not writable by %s (mode %04o)", dir, who, mode)
		c.Fix = "chmod u+rwx " + dir
	default:
		c.Detail = fmt.Sprintf("%s: %s's, mode %04o", dir, who, mode)
	}
	return c
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(uid)
}

// runnerFix is the fix shown for a runner that is not usable, given its
// error: a docker socket berth's user may not open needs a group, not an
// installation.
func runnerFix(name string, err error) string {
	msg := strings.ToLower(err.Error())
	if name == "runner docker" && strings.Contains(msg, "permission denied") && strings.Contains(msg, "sock") {
		who := userName(os.Geteuid())
		return fmt.Sprintf("berth's user %s may not open the docker socket: add it to the socket's group (usermod -aG docker %s, then restart berth; that group is as good as root), "+
			"or run rootless podman as %s (docker.binary: podman)", who, who, who)
	}
	return fixes[name]
}
