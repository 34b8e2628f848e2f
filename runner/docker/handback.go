package docker

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/sandbox/builtin"
	"github.com/berth-dev/berth/sandbox/builtin/nsinit"
)

// handBack gives a non-root berth back what the container's user left
// in the run's directories. That user is another uid (the image's root,
// most often): its files and private directories in WORK, OUTPUT_DIR
// and CACHE_DIR would be unreadable to berth, which could then neither
// check the output nor empty the cache nor remove WORK, and CACHE_DIR
// would break the addon's next run. A short container of the same image
// (no network, root with only CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH and
// FOWNER) runs berth's static init in its hand-back mode
// (nsinit.HandbackArg), bind-mounted read-only, over the three
// directories: on docker they go to berth's uid:gid; on rootless podman,
// where berth's uid is the container's root, to 0:0. Nothing is done
// for a root berth (it reads and removes anything) or when the
// container ran as berth's own user.
func (r *Runner) handBack(ctx context.Context, image, owner string, log *slog.Logger, dirs ...string) {
	target, ok := r.handBackTarget(owner)
	if !ok {
		return
	}
	init, err := handBackBinary()
	if err != nil {
		log.Warn("cannot give the container user's files back to berth", "err", err)
		return
	}
	mnt, err := bindMount(r.cfg.DaemonPath(init), "/.berth-handback", true)
	if err != nil {
		log.Warn("cannot give the container user's files back to berth", "err", err)
		return
	}
	args := []string{"run", "--rm", "--network", "none", "--user", "0:0",
		"--cap-drop", "ALL", "--cap-add", "CHOWN", "--cap-add", "DAC_OVERRIDE", "--cap-add", "DAC_READ_SEARCH", "--cap-add", "FOWNER",
		"--security-opt", "no-new-privileges", "--log-driver", "none",
		"--mount", mnt, "--entrypoint", "/.berth-handback"}
	var inside []string
	for i, d := range dirs {
		if d == "" {
			continue
		}
		at := "/mnt/handback/" + strconv.Itoa(i)
		m, err := bindMount(r.cfg.DaemonPath(d), at, false)
		if err != nil {
			log.Warn("cannot give the container user's files back to berth", "err", err)
			return
		}
		args = append(args, "--mount", m)
		inside = append(inside, at)
	}
	uid, gid, _ := strings.Cut(target, ":")
	args = append(args, image, nsinit.HandbackArg, uid, gid)
	args = append(args, inside...)
	if _, err := r.eng.Run(ctx, args, engine.RunOpts{}); err != nil {
		log.Warn("cannot give the container user's files back to berth", "err", err)
		return
	}
	log.Debug("gave the container user's files back to berth", "to", target)
}

// handBackTarget is the uid:gid (as the container sees it) the run's
// files go back to, and whether they need to: berth is not root and the
// container's user (owner, "uid:gid" or a name) is not berth's.
func (r *Runner) handBackTarget(owner string) (string, bool) {
	if os.Geteuid() == 0 {
		return "", false
	}
	uid, _, _ := strings.Cut(owner, ":")
	if r.eng.Flavor() == "podman" {
		// Rootless: the container's root is berth's uid.
		if uid == "0" || uid == "root" {
			return "", false
		}
		return "0:0", true
	}
	me := strconv.Itoa(os.Getuid())
	if uid == me {
		return "", false
	}
	return me + ":" + strconv.Itoa(os.Getgid()), true
}

// handBackBinary is berth's sandbox init installed next to berth (static,
// so it runs in any image), else berth's own binary.
func handBackBinary() (string, error) {
	if p := builtin.DefaultInitPath(); p != builtin.SelfInit {
		return p, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(exe)
}
