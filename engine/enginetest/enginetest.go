package enginetest

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/engine"
)

// BusyboxRef is the base test image every berth test builds FROM.
const BusyboxRef = "berth-test/busybox:1"

// PodmanRuntime is the OCI runtime RequirePodman selects. crun refuses to
// run on hosts with hybrid cgroups (v1 + v2), which CI machines have; runc
// works everywhere. Override with BERTH_PODMAN_RUNTIME ("" = podman's default).
func PodmanRuntime() string {
	if v, ok := os.LookupEnv("BERTH_PODMAN_RUNTIME"); ok {
		return v
	}
	return "runc"
}

// RequireDocker returns a docker client. It skips the test only when the
// docker binary is absent; when the binary is there but the daemon does not
// answer it fails, since CI is expected to have started it.
func RequireDocker(t testing.TB) *engine.Client {
	t.Helper()
	return require(t, "docker")
}

// RequirePodman returns a podman client using PodmanRuntime. It skips only
// when the podman binary is absent.
func RequirePodman(t testing.TB) *engine.Client {
	t.Helper()
	return require(t, "podman", engine.WithRuntime(PodmanRuntime()))
}

func require(t testing.TB, binary string, opts ...engine.Option) *engine.Client {
	t.Helper()
	path, err := exec.LookPath(binary)
	if err != nil {
		t.Skipf("%s is not installed (%v); CI installs it, so this skip only happens on dev machines", binary, err)
	}
	c := engine.New(path, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		hint := ""
		switch binary {
		case "docker":
			hint = "start it: dockerd >/var/log/dockerd.log 2>&1 & (then wait for `docker info`)"
		case "podman":
			hint = "run .ci/services-setup.sh (writes /etc/containers/containers.conf with default_ulimits = [])"
		}
		t.Fatalf("%s is installed but not usable: %v\n%s", binary, err, hint)
	}
	return c
}

// BusyboxImage makes sure BusyboxRef exists in c's image store, importing a
// root filesystem made of the host's static busybox (with every applet
// linked in /bin) when it does not. Concurrent callers, also from other
// test binaries, are serialised with a file lock under os.TempDir().
func BusyboxImage(t testing.TB, c *engine.Client) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := EnsureBusybox(ctx, c); err != nil {
		t.Fatalf("building %s: %v", BusyboxRef, err)
	}
	return BusyboxRef
}

// EnsureBusybox is BusyboxImage without a testing.TB (for benchmarks and
// setup code).
func EnsureBusybox(ctx context.Context, c *engine.Client) error {
	ok, err := c.ImageExists(ctx, BusyboxRef)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	unlock, err := lock(filepath.Join(os.TempDir(), "berth-test-busybox-"+c.Flavor()+".lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if ok, err := c.ImageExists(ctx, BusyboxRef); err != nil || ok {
		return err
	}
	rootfs, err := BusyboxRootfs()
	if err != nil {
		return err
	}
	return c.ImportImage(ctx, bytes.NewReader(rootfs), BusyboxRef)
}

// BusyboxRootfs returns a tar of a root filesystem holding /bin/busybox
// (copied from the host's busybox-static) and a symlink per applet.
func BusyboxRootfs() ([]byte, error) {
	src := ""
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if _, err := os.Stat(p); err == nil {
			src = p
			break
		}
	}
	if src == "" {
		return nil, fmt.Errorf("busybox not found in /bin or /usr/bin: apt-get install -y busybox-static")
	}
	bin, err := os.ReadFile(src)
	if err != nil {
		return nil, err
	}
	list, err := exec.Command(src, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", src, err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Unix(0, 0)
	for _, d := range []string{"bin/", "etc/", "tmp/", "var/", "var/www/", "root/"} {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: mode, ModTime: now}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin)), ModTime: now}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for _, name := range []string{"etc/group", "etc/passwd"} {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: now}); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, body); err != nil {
			return nil, err
		}
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + applet, Linkname: "busybox", Mode: 0o777, ModTime: now}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// lock takes an exclusive flock on path and returns its release.
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// UniqueName returns a container/image name unique to this test run,
// prefixed so leftovers are easy to find (berth-test-...).
func UniqueName(t testing.TB, base string) string {
	t.Helper()
	return fmt.Sprintf("berth-test-%s-%d-%d", base, os.Getpid(), time.Now().UnixNano()%1_000_000)
}
