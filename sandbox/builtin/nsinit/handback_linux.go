package nsinit

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/beneath"
)

// HandbackArg, as the first argument, makes the init binary give back
// to a non-root berth what a container's other user left in the run's
// directories: the docker runner starts it, static and bind-mounted
// read-only, as the entrypoint of a short container of the addon's own
// image, as root with only the capabilities this needs. The arguments
// are: HandbackArg, UID, GID and the directories (container paths).
// Every entry below each directory is given to UID:GID (a link itself,
// never its target; chown clears set-id bits), and every directory gets
// the owner's rwx, so that berth can read, check and remove them.
const HandbackArg = "__berth-handback__"

func handback() int {
	if len(os.Args) < 5 {
		fmt.Fprintln(os.Stderr, "berth handback: usage: UID GID DIR...")
		return ExitSetup
	}
	uid, err1 := strconv.Atoi(os.Args[2])
	gid, err2 := strconv.Atoi(os.Args[3])
	if err1 != nil || err2 != nil || uid < 0 || gid < 0 {
		fmt.Fprintf(os.Stderr, "berth handback: bad UID %q or GID %q\n", os.Args[2], os.Args[3])
		return ExitSetup
	}
	status := 0
	for _, dir := range os.Args[4:] {
		err := beneath.Walk(dir, func(e *beneath.Entry) error {
			if err := unix.Fchownat(e.Dirfd, e.Name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil && err != unix.ENOENT {
				return &os.PathError{Op: "chown", Path: e.Path, Err: err}
			}
			if !e.IsDir() || e.Stat.Mode&0o700 == 0o700 {
				return nil
			}
			// Through an O_PATH descriptor: a directory swapped for a
			// link since the walk's stat is not followed.
			fd, err := unix.Openat(e.Dirfd, e.Name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return nil // gone or swapped: nothing of ours to open
			}
			defer unix.Close(fd)
			if err := unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), e.Stat.Mode&0o7777|0o700); err != nil {
				return &os.PathError{Op: "chmod", Path: e.Path, Err: err}
			}
			return nil
		})
		if err != nil {
			fmt.Fprintf(os.Stderr, "berth handback: %s: %v\n", dir, err)
			status = ExitSetup
		}
	}
	return status
}
