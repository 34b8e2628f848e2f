package docker

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTheChownWalkNeverFollowsALinkSwappedIn is issue 16's "concurrent
// runs sharing CACHE_DIR + docker.user": while berth (root) hands the
// cache to the container user before one run, an addon of another run
// sharing that cache keeps swapping CACHE_DIR/x between a directory and a
// link to a host directory whose entries have the same names. The walk
// must chown nothing on the host.
func TestTheChownWalkNeverFollowsALinkSwappedIn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("shareDirs chowns only when berth runs as root")
	}
	host := t.TempDir()
	cache := t.TempDir()
	x := filepath.Join(cache, "x")
	if err := os.Mkdir(x, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		name := "f" + strconv.Itoa(i)
		for _, dir := range []string{host, x} {
			if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Symlink(host, filepath.Join(cache, "y")); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		// The addon's side: an atomic exchange of x and y, for ever.
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = unix.Renameat2(unix.AT_FDCWD, x, unix.AT_FDCWD, filepath.Join(cache, "y"), unix.RENAME_EXCHANGE)
		}
	})
	defer func() { close(stop); wg.Wait() }()

	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		_ = shareDirs("4321:4321", cache)
		entries, err := os.ReadDir(host)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			fi, err := os.Lstat(filepath.Join(host, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 {
				t.Fatalf("walk %d chowned the host's %s to %d through the swapped link", i, e.Name(), st.Uid)
			}
		}
	}
}
