package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/internal/beneath"
)

// imageUser is the user an image's containers run as when berth passes no
// --user (Docspell's DockerRunner passes none:
// modules/addonlib/src/main/scala/docspell/addons/runner/DockerRunner.scala:51-62).
type imageUser struct {
	UID, GID int
	// Home is the user's home directory from the image's /etc/passwd,
	// empty when the image has none.
	Home string
	// Name is the user's name in the image's /etc/passwd, empty when the
	// image has no entry for it.
	Name string
}

// parseImageUser resolves an image's Config.User ("", "root", "appuser",
// "1000", "1000:1000", "appuser:staff") against the image's passwd and
// group files as the engine does: a missing user is root, a user without
// a group takes its passwd group (0 when it has no entry), and a name the
// files do not hold is an error naming it.
func parseImageUser(spec string, passwd, group []byte) (imageUser, error) {
	us, gs, hasGroup := strings.Cut(spec, ":")
	if us == "" {
		us = "0"
	}
	u := imageUser{}
	var entry []string
	for line := range strings.Lines(string(passwd)) {
		f := strings.Split(strings.TrimRight(line, "\r\n"), ":")
		if len(f) < 7 {
			continue
		}
		if f[0] == us || f[2] == us {
			entry = f
			break
		}
	}
	if n, err := strconv.Atoi(us); err == nil {
		u.UID = n
	} else if entry != nil {
		u.UID, _ = strconv.Atoi(entry[2])
	} else {
		return u, fmt.Errorf("the image's USER %q is not in its /etc/passwd", us)
	}
	if entry != nil {
		u.GID, _ = strconv.Atoi(entry[3])
		u.Home = entry[5]
		u.Name = entry[0]
	}
	if hasGroup && gs != "" {
		if n, err := strconv.Atoi(gs); err == nil {
			u.GID = n
		} else {
			found := false
			for line := range strings.Lines(string(group)) {
				f := strings.Split(strings.TrimRight(line, "\r\n"), ":")
				if len(f) >= 3 && f[0] == gs {
					u.GID, _ = strconv.Atoi(f[2])
					found = true
					break
				}
			}
			if !found {
				return u, fmt.Errorf("the image's USER group %q is not in its /etc/group", gs)
			}
		}
	}
	return u, nil
}

type cachedUser struct {
	u  imageUser
	at time.Time
}

// imageUserOf returns the user of image, asking the engine once per
// imagesFor: `image inspect` for Config.User, and the image's
// /etc/passwd and /etc/group copied out of a created (never started)
// container.
func (r *Runner) imageUserOf(ctx context.Context, image string) (imageUser, error) {
	r.mu.Lock()
	c, ok := r.users[image]
	r.mu.Unlock()
	if ok && time.Since(c.at) < imagesFor {
		return c.u, nil
	}
	out, err := r.eng.Run(ctx, []string{"image", "inspect", "--format", "{{json .Config.User}}", image}, engine.RunOpts{})
	if err != nil {
		return imageUser{}, fmt.Errorf("reading the USER of image %s: %w", image, err)
	}
	var spec string
	if err := json.Unmarshal(bytes.TrimSpace(out), &spec); err != nil {
		return imageUser{}, fmt.Errorf("reading the USER of image %s: %w", image, err)
	}
	passwd, group, err := r.imageAccounts(ctx, image)
	if err != nil {
		return imageUser{}, err
	}
	u, err := parseImageUser(spec, passwd, group)
	if err != nil {
		return imageUser{}, fmt.Errorf("image %s: %w", image, err)
	}
	r.mu.Lock()
	if r.users == nil {
		r.users = map[string]cachedUser{}
	}
	r.users[image] = cachedUser{u, time.Now()}
	r.mu.Unlock()
	return u, nil
}

// imageAccounts copies /etc/passwd and /etc/group out of image; a file the
// image lacks is empty (scratch images have neither).
func (r *Runner) imageAccounts(ctx context.Context, image string) (passwd, group []byte, err error) {
	out, err := r.eng.Run(ctx, []string{"create", "--label", LabelProbe + "=user", "--network", "none", image}, engine.RunOpts{})
	if err != nil {
		return nil, nil, fmt.Errorf("reading the accounts of image %s: %w", image, err)
	}
	id := strings.TrimSpace(string(out))
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		_ = r.eng.RemoveContainer(cctx, id, true)
	}()
	read := func(file string) ([]byte, error) {
		out, err := r.eng.Run(ctx, []string{"cp", id + ":" + file, "-"}, engine.RunOpts{})
		if err != nil {
			if errors.Is(err, engine.ErrNotFound) || strings.Contains(err.Error(), "No such") || strings.Contains(err.Error(), "no such") {
				return nil, nil
			}
			return nil, fmt.Errorf("reading %s of image %s: %w", file, image, err)
		}
		tr := tar.NewReader(bytes.NewReader(out))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return nil, nil
			}
			if err != nil {
				return nil, fmt.Errorf("reading %s of image %s: %w", file, image, err)
			}
			if h.Typeflag == tar.TypeReg {
				return io.ReadAll(io.LimitReader(tr, 1<<20))
			}
		}
	}
	if passwd, err = read("/etc/passwd"); err != nil {
		return nil, nil, err
	}
	if group, err = read("/etc/group"); err != nil {
		return nil, nil, err
	}
	return passwd, group, nil
}

// openDirs lets any user write the run's directories: what a non-root
// berth does when the container's user is another uid, which it cannot
// chown to. A bind mount needs no search permission on the host's parent
// directories (berth's own, private), so this opens them to the
// container, not to other local users. Like beneath.Chown it follows no
// link, even one swapped in mid-walk: each entry is changed through an
// O_PATH descriptor after checking its type.
func openDirs(dirs ...string) error {
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if err := os.Chmod(d, 0o777); err != nil {
			return fmt.Errorf("opening %s to the image's user: %w", d, err)
		}
		err := beneath.Walk(d, func(e *beneath.Entry) error {
			if !e.IsDir() && !e.IsRegular() {
				return nil
			}
			fd, err := unix.Openat(e.Dirfd, e.Name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				if errors.Is(err, unix.ENOENT) {
					return nil
				}
				return err
			}
			defer unix.Close(fd)
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				return err
			}
			mode := uint32(0o666)
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFDIR:
				mode = 0o777
			case unix.S_IFREG:
				if st.Mode&0o111 != 0 {
					mode = 0o777
				}
			default:
				return nil
			}
			return unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), mode)
		})
		if err != nil {
			return fmt.Errorf("opening %s to the image's user: %w", d, err)
		}
	}
	return nil
}

// dirOwner is the uid:gid the run's directories must be writable for:
// the image's user with docker.user: image (the default), else the
// configured --user. A non-root berth cannot chown: Run opens the
// directories to everyone instead when that user is not berth's own.
func (r *Runner) dirOwner(ctx context.Context, image, user string) (string, imageUser, error) {
	if r.cfg.User != UserImage {
		return user, imageUser{}, nil
	}
	iu, err := r.imageUserOf(ctx, image)
	if err != nil {
		return "", imageUser{}, err
	}
	return strconv.Itoa(iu.UID) + ":" + strconv.Itoa(iu.GID), iu, nil
}
