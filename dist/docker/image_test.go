package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/engine/enginetest"
)

// The uid and gid the Dockerfile gives berth's user by default.
const berthUID, berthGID = 10001, 10001

// repoRoot is the repository's root, two levels up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "Dockerfile")); err != nil {
		t.Fatalf("no Dockerfile at the repository's root: %v", err)
	}
	return root
}

// docker runs the docker CLI and returns its stdout; a failure carries
// stderr.
func docker(t *testing.T, stdin io.Reader, args ...string) string {
	t.Helper()
	out, err := dockerErr(stdin, args...)
	if err != nil {
		t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func dockerErr(stdin io.Reader, args ...string) (string, error) {
	// A cold compile of berth on a busy two-core machine took 15 minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w\nstdout: %s\nstderr: %s", err, tail(stdout.String()), tail(stderr.String()))
	}
	return stdout.String(), nil
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

func imageExists(ref string) bool {
	_, err := dockerErr(nil, "image", "inspect", ref)
	return err == nil
}

// importImage streams a root file system written by fill into docker
// import, with Dockerfile-style changes.
func importImage(t *testing.T, ref string, changes []string, fill func(tw *tar.Writer) error) {
	t.Helper()
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := fill(tw)
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	args := []string{"import"}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	docker(t, pr, append(args, "-", ref)...)
}

// copyTar writes every entry of the tar in b to tw.
func copyTar(tw *tar.Writer, b []byte) error {
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// addTree writes the tree at src to tw below name, skipping what skip
// says.
func addTree(tw *tar.Writer, src, name string, skip func(rel string, d fs.DirEntry) bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel != "." && skip != nil && skip(rel, d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(filepath.Join(name, rel))
		if d.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
}

func addFile(tw *tar.Writer, name string, mode int64, body []byte) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body))}); err != nil {
		return err
	}
	_, err := tw.Write(body)
	return err
}

// goImage is GO_IMAGE made from the host's Go toolchain: busybox for
// /bin/sh, GOROOT at /usr/local/go, the host's CA bundle (the Dockerfile
// copies it into berth's image). Tagged by the toolchain's version, so it
// is made once per machine and toolchain.
func goToolchainImage(t *testing.T) (ref, version string) {
	t.Helper()
	out, err := exec.Command("go", "env", "GOROOT", "GOVERSION").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	f := strings.Fields(string(out))
	goroot, version := f[0], f[1]
	ref = "berth-test/go:" + version
	if imageExists(ref) {
		return ref, version
	}
	bb, err := enginetest.BusyboxRootfs()
	if err != nil {
		t.Fatal(err)
	}
	certs, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatalf("the host's CA bundle (apt-get install ca-certificates): %v", err)
	}
	importImage(t, ref, []string{"ENV PATH=/usr/local/go/bin:/bin", "ENV HOME=/root", "ENV GOTOOLCHAIN=local"}, func(tw *tar.Writer) error {
		if err := copyTar(tw, bb); err != nil {
			return err
		}
		for _, d := range []string{"usr/", "usr/local/", "etc/ssl/", "etc/ssl/certs/"} {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755}); err != nil {
				return err
			}
		}
		if err := addFile(tw, "etc/ssl/certs/ca-certificates.crt", 0o644, certs); err != nil {
			return err
		}
		// The toolchain without its own tests.
		return addTree(tw, goroot, "usr/local/go", func(rel string, d fs.DirEntry) bool {
			return d.IsDir() && (rel == "test" || d.Name() == "testdata")
		})
	})
	return ref, version
}

// goImage is the toolchain image with what the build of ctxDir needs
// already there: go.sum's modules as a file:// proxy at /gomod (from the
// host's module cache) and in GOMODCACHE, and a build cache holding the
// compiled packages, made by building ctxDir once in a container of it
// (docker build has no cache mounts without BuildKit, which is not
// installed here). The Dockerfile's own go build then compiles only what
// changed. Tagged by toolchain and go.sum: a cold compile (minutes on
// two cores) happens once per machine, toolchain and set of modules.
func goImage(t *testing.T, root, ctxDir string) string {
	t.Helper()
	base, version := goToolchainImage(t)
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(append(sum, version...))
	ref := base + "-" + hex.EncodeToString(h[:6])
	if imageExists(ref) {
		return ref
	}
	proxy := t.TempDir()
	if err := moduleProxy(filepath.Join(root, "go.sum"), proxy); err != nil {
		t.Fatal(err)
	}
	name := enginetest.UniqueName(t, "go-warm")
	start := time.Now()
	_, err = dockerErr(nil, "run", "--name", name, "-v", proxy+":/gomod-in:ro", "-v", ctxDir+":/ctx:ro", base, "/bin/sh", "-c",
		"set -e; cp -r /gomod-in /gomod; cp -r /ctx /src; cd /src; "+
			"CGO_ENABLED=0 GOPROXY=file:///gomod GOFLAGS=-mod=mod go build -trimpath ./cmd/berth ./cmd/berth-sandbox-init; "+
			"CGO_ENABLED=0 GOPROXY=file:///gomod GOFLAGS=-mod=mod go build -trimpath -tags daemon -o /dev/null ./cmd/berth; rm -rf /src")
	defer func() { _, _ = dockerErr(nil, "rm", "-f", name) }()
	if err != nil {
		t.Fatalf("warming the build cache in %s: %v", base, err)
	}
	docker(t, nil, "commit", name, ref)
	t.Logf("made %s (modules and build cache) in %s", ref, time.Since(start).Round(time.Second))
	return ref
}

// dockerCLIImage is DOCKER_CLI_IMAGE made from the host's docker client,
// which must be statically linked to run on any base.
func dockerCLIImage(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker is not installed; CI installs it")
	}
	path, _ = filepath.EvalSymlinks(path)
	bin, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("the host's docker client %s is dynamically linked: the image needs a static one (DOCKER_CLI_IMAGE)", path)
		}
	}
	sum := sha256.Sum256(bin)
	ref := "berth-test/docker-cli:" + hex.EncodeToString(sum[:6])
	if !imageExists(ref) {
		importImage(t, ref, nil, func(tw *tar.Writer) error {
			for _, d := range []string{"usr/", "usr/local/", "usr/local/bin/"} {
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755}); err != nil {
					return err
				}
			}
			return addFile(tw, "usr/local/bin/docker", 0o755, bin)
		})
	}
	return ref
}

// buildContext copies the repository's files (tracked, and new ones not
// ignored) into a directory, with fixed modification times.
func buildContext(t *testing.T, root string) string {
	t.Helper()
	ctxDir := t.TempDir()
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, rel)
		info, err := os.Lstat(src)
		if err != nil || !info.Mode().IsRegular() {
			continue // deleted in the work tree, or a link
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(ctxDir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	// docker build's cache keys on modification times too: fixed ones
	// let an unchanged tree reuse the last build.
	epoch := time.Unix(1, 0)
	err = filepath.WalkDir(ctxDir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, epoch, epoch)
	})
	if err != nil {
		t.Fatal(err)
	}
	return ctxDir
}

// moduleProxy copies, for every module version go.sum names, what the
// host's module cache holds of it (.mod, .info, .zip) into dst in the
// GOPROXY layout (the cache's download directory is one). The cache has
// what this platform's build needed, which is what the image's build
// needs.
func moduleProxy(goSum, dst string) error {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return fmt.Errorf("go env GOMODCACHE: %w", err)
	}
	src := filepath.Join(strings.TrimSpace(string(out)), "cache", "download")
	sum, err := os.ReadFile(goSum)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(sum), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		version := strings.TrimSuffix(f[1], "/go.mod")
		dir := filepath.Join(escapePath(f[0]), "@v")
		if seen[dir+version] {
			continue
		}
		seen[dir+version] = true
		for _, ext := range []string{".mod", ".info", ".zip"} {
			b, err := os.ReadFile(filepath.Join(src, dir, version+ext))
			if os.IsNotExist(err) {
				continue // a module another platform's build needs
			}
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Join(dst, dir), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dst, dir, version+ext), b, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// escapePath is the module cache's case encoding: an upper-case letter
// becomes '!' and its lower case.
func escapePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

var (
	imageMu  sync.Mutex
	imageRef string
	imageErr string
)

// berthImage builds the repository's Dockerfile once per test binary,
// with every base made locally and the final stage on busybox.
func berthImage(t *testing.T) string {
	t.Helper()
	enginetest.RequireDocker(t)
	imageMu.Lock()
	defer imageMu.Unlock()
	if imageRef != "" || imageErr != "" {
		if imageErr != "" {
			t.Fatal(imageErr)
		}
		return imageRef
	}
	root := repoRoot(t)
	bbase := enginetest.BusyboxImage(t, enginetest.RequireDocker(t))
	ctxDir := buildContext(t, root)
	goRef, cliRef := goImage(t, root, ctxDir), dockerCLIImage(t)
	// One tag, kept like the busybox base: an unchanged tree builds from
	// docker's cache next time. The image it replaces goes, with the
	// build stage's layers under it.
	ref := "berth-test/berth:dockerfile"
	old, _ := dockerErr(nil, "image", "inspect", "-f", "{{.Id}}", ref)
	start := time.Now()
	if _, err := dockerErr(nil, "build", "-q", "-t", ref,
		"--build-arg", "GO_IMAGE="+goRef, "--build-arg", "BASE_IMAGE="+bbase, "--build-arg", "DOCKER_CLI_IMAGE="+cliRef,
		"--build-arg", "VERSION=deploytest", "--build-arg", "GOPROXY=file:///gomod", "--build-arg", "GOFLAGS=-mod=mod",
		ctxDir); err != nil {
		imageErr = fmt.Sprintf("docker build of the Dockerfile: %v", err)
		t.Fatal(imageErr)
	}
	t.Logf("built %s from the Dockerfile in %s", ref, time.Since(start).Round(time.Second))
	if id, _ := dockerErr(nil, "image", "inspect", "-f", "{{.Id}}", ref); strings.TrimSpace(old) != "" && strings.TrimSpace(old) != strings.TrimSpace(id) {
		_, _ = dockerErr(nil, "rmi", strings.TrimSpace(old))
	}
	imageRef = ref
	return ref
}

// socket is the host daemon's unix socket and the group that may use it.
func socket(t *testing.T) (path string, gid int) {
	t.Helper()
	path = "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		if !strings.HasPrefix(h, "unix://") {
			t.Skipf("DOCKER_HOST=%s is not a unix socket: this test binds the socket into a container", h)
		}
		path = strings.TrimPrefix(h, "unix://")
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatalf("the docker socket %s: %v", path, err)
	}
	return path, int(st.Gid)
}

// hostDir is a directory on the host for berth's state, owned by the
// image's berth user as the operator would make it (install -d -o 10001).
func hostDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the test chowns a host directory to the image's uid: run as root (CI does)")
	}
	d, err := os.MkdirTemp("/var/tmp", "berth-test-deploy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chown(d, berthUID, berthGID); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o750); err != nil {
		t.Fatal(err)
	}
	return d
}

// berthIn runs the image with the host's socket bound in and the given
// extra docker run arguments, then berth's arguments.
func berthIn(t *testing.T, image string, runArgs []string, berthArgs ...string) (string, error) {
	t.Helper()
	sock, gid := socket(t)
	args := []string{"run", "--rm", "--group-add", strconv.Itoa(gid), "-v", sock + ":/var/run/docker.sock"}
	args = append(append(append(args, runArgs...), image), berthArgs...)
	return dockerErr(nil, args...)
}

type check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

func doctor(t *testing.T, image string, runArgs ...string) map[string]check {
	t.Helper()
	out, err := berthIn(t, image, runArgs, "doctor", "--json")
	if err != nil && !strings.HasPrefix(strings.TrimSpace(out), "[") {
		t.Fatalf("berth doctor in the container: %v", err)
	}
	var checks []check
	if err := json.Unmarshal([]byte(out), &checks); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, out)
	}
	m := map[string]check{}
	for _, c := range checks {
		m[c.Name] = c
	}
	return m
}

func TestTheImageIsSmallAndRunsAsAUserOfItsOwn(t *testing.T) {
	image := berthImage(t)
	if user := strings.TrimSpace(docker(t, nil, "image", "inspect", "-f", "{{.Config.User}}", image)); user != "berth" {
		t.Errorf("the image's USER is %q, want berth (non-root by default)", user)
	}
	id := strings.TrimSpace(docker(t, nil, "run", "--rm", "--entrypoint", "/bin/sh", image, "-c", "id -u; id -g"))
	if id != fmt.Sprintf("%d\n%d", berthUID, berthGID) {
		t.Errorf("id -u, id -g in the image = %q, want %d and %d", id, berthUID, berthGID)
	}
	// Multi-stage: the toolchain and the source stay in the build stage.
	if _, err := dockerErr(nil, "run", "--rm", "--entrypoint", "/bin/sh", image, "-c", "test -x /usr/local/bin/berthd && test -x /usr/local/bin/berth-sandbox-init"); err != nil {
		t.Errorf("the image lacks berthd or berth-sandbox-init beside berth: %v", err)
	}
	for _, p := range []string{"/usr/local/go", "/src"} {
		if _, err := dockerErr(nil, "run", "--rm", "--entrypoint", "/bin/sh", image, "-c", "test ! -e "+p); err != nil {
			t.Errorf("the final image holds %s: %v", p, err)
		}
	}
	version := docker(t, nil, "run", "--rm", image, "version")
	if !strings.Contains(version, "deploytest") {
		t.Errorf("berth version in the image = %q, want the VERSION build argument", version)
	}
	size, _ := strconv.ParseInt(strings.TrimSpace(docker(t, nil, "image", "inspect", "-f", "{{.Size}}", image)), 10, 64)
	t.Logf("image size %.1f MB (busybox base: berth, berthd, berth-sandbox-init, docker client)", float64(size)/1e6)
}

// Docspell's "Within Docker" (control.md:229-248): the socket and the
// directory the addon executor works in, bound at the same path.
func TestDoctorInTheContainerSeesTheWorkingDirWhenItIsTheSamePathOnTheHost(t *testing.T) {
	image := berthImage(t)
	d := hostDir(t)
	checks := doctor(t, image, "-v", d+":"+d, "-e", "BERTH_WORKING_DIR="+d+"/work", "-e", "BERTH_CACHE_DIR="+d+"/cache")
	if c := checks["runner docker"]; !c.OK {
		t.Fatalf("runner docker in the container: %s", c.Detail)
	}
	if c := checks["docker host paths"]; !c.OK {
		t.Errorf("docker host paths, same path on both sides: %s", c.Detail)
	}
}

// A working dir bound at another path than the host's (the image's
// default /srv/berth from a host directory elsewhere) is what the
// path-mapping check exists for: doctor fails and names docker.path-map;
// with the mapping in berth.yaml it passes.
func TestDoctorInTheContainerNamesThePathMapAndAcceptsIt(t *testing.T) {
	image := berthImage(t)
	d := hostDir(t)
	checks := doctor(t, image, "-v", d+":/srv/berth")
	c := checks["docker host paths"]
	if c.OK {
		t.Fatalf("docker host paths passed with /srv/berth bound from %s: the check cannot see a wrong mapping", d)
	}
	if !strings.Contains(c.Detail, "path-map") || !strings.Contains(c.Detail, "/srv/berth/work") {
		t.Errorf("the failed check does not name the fix (docker.path-map) and the dir: %s", c.Detail)
	}
	conf := mappedConfig(t, d)
	checks = doctor(t, image, "-v", d+":/srv/berth", "-v", conf+":/etc/berth/berth.yaml:ro")
	if c := checks["docker host paths"]; !c.OK {
		t.Errorf("docker host paths with docker.path-map /srv/berth: %s: %s", d, c.Detail)
	}
}

// mappedConfig writes a berth.yaml that maps the image's /srv/berth to
// the host directory d.
func mappedConfig(t *testing.T, d string) string {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "berth.yaml")
	body := fmt.Sprintf("docker:\n  path-map:\n    /srv/berth: %q\n", d)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

type result struct {
	RunID       string   `json:"runId"`
	Kind        string   `json:"result"`
	Error       string   `json:"error"`
	Runner      string   `json:"runner"`
	OutputFiles []string `json:"outputFiles"`
	Isolated    bool     `json:"isolated"`
	Output      struct {
		Commands []struct {
			ItemID string `json:"itemId"`
		} `json:"commands"`
	} `json:"output"`
	Addons []struct {
		Attempts []struct {
			Runner string `json:"runner"`
			Error  string `json:"error"`
		} `json:"attempts"`
	} `json:"addons"`
}

// berth in the container runs examples/docker-hello with the docker
// runner: the host's daemon builds its image and runs it with berth's
// directories bound, which works only when the daemon sees them.
func TestBerthInTheContainerRunsADockerAddonThroughTheHostsDaemon(t *testing.T) {
	image := berthImage(t)
	root := repoRoot(t)
	for _, tc := range []struct {
		name string
		// mount is where the container sees the host dir d.
		mount  func(d string) string
		mapped bool
	}{
		{"with the directory at the same path on both sides", func(d string) string { return d }, false},
		{"with the directory elsewhere and docker.path-map", func(string) string { return "/srv/berth" }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := hostDir(t)
			in := tc.mount(d)
			addonDir := filepath.Join(d, "addons", "docker-hello")
			if err := addTreeCopy(filepath.Join(root, "examples", "docker-hello"), addonDir); err != nil {
				t.Fatal(err)
			}
			item := filepath.Join(d, "item.json")
			if err := os.WriteFile(item, []byte(`{"id": "item-7", "name": "Invoice"}`), 0o644); err != nil {
				t.Fatal(err)
			}
			runArgs := []string{"-v", d + ":" + in, "-e", "BERTH_WORKING_DIR=" + in + "/work", "-e", "BERTH_CACHE_DIR=" + in + "/cache", "-e", "BERTH_DATA_DIR=" + in + "/data"}
			if tc.mapped {
				runArgs = append(runArgs, "-v", mappedConfig(t, d)+":/etc/berth/berth.yaml:ro")
			}
			out, err := berthIn(t, image, runArgs, "addon", "run", in+"/addons/docker-hello", "--runners", "docker",
				"--args", "Hello from a container", "--item-data", in+"/item.json", "--output-dir", in+"/out", "--json")
			var res result
			if jerr := json.Unmarshal([]byte(out), &res); jerr != nil {
				t.Fatalf("berth addon run in the container: %v (%v)\n%s", err, jerr, out)
			}
			if res.Kind != "success" || res.Runner != "docker" {
				t.Fatalf("result %s by %s (%s), want success by docker; attempts %+v", res.Kind, res.Runner, res.Error, res.Addons)
			}
			if !res.Isolated {
				t.Error("a pure docker addon ran without isolation (--network none)")
			}
			if len(res.Output.Commands) != 1 || res.Output.Commands[0].ItemID != "item-7" {
				t.Errorf("output commands %+v, want one item-update of item-7", res.Output.Commands)
			}
			greeting, err := os.ReadFile(filepath.Join(d, "out", "greeting.txt"))
			if err != nil || strings.TrimSpace(string(greeting)) != "Hello from a container" {
				t.Errorf("greeting.txt on the host: %q, %v", greeting, err)
			}
			// Nothing of the run is left in the daemon: berth labels what
			// it starts.
			if left := docker(t, nil, "ps", "-a", "-q", "--filter", "label=berth.run="+res.RunID); strings.TrimSpace(left) != "" {
				t.Errorf("containers left after the run: %s", left)
			}
		})
	}
}

// addTreeCopy copies a directory tree of regular files.
func addTreeCopy(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, _ := d.Info()
		return os.WriteFile(target, b, info.Mode().Perm())
	})
}

// The image's default command serves the API on 0.0.0.0:8470; a
// non-loopback address needs a token file.
func TestTheImagesDefaultCommandServesWithATokenFile(t *testing.T) {
	image := berthImage(t)
	sock, gid := socket(t)
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("# test-only token\nberth-deploy-test-token\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	name := enginetest.UniqueName(t, "serve")
	docker(t, nil, "run", "-d", "--name", name, "--group-add", strconv.Itoa(gid), "-v", sock+":/var/run/docker.sock",
		"-v", tokens+":/etc/berth/tokens:ro", "-e", "BERTH_SERVE_TOKEN_FILE=/etc/berth/tokens", "-p", "127.0.0.1::8470", image)
	t.Cleanup(func() { _, _ = dockerErr(nil, "rm", "-f", name) })
	port, _, _ := strings.Cut(strings.TrimSpace(docker(t, nil, "port", name, "8470/tcp")), "\n")
	url := "http://" + port + "/healthz"
	var last error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		resp, err := http.Get(url)
		if err != nil {
			last = err
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %s", url, resp.Status, body)
		}
		if !strings.Contains(string(body), "deploytest") {
			t.Errorf("/healthz = %s, want the image's version", body)
		}
		return
	}
	logs, _ := dockerErr(nil, "logs", name)
	t.Fatalf("berth serve in the container did not answer %s: %v\n%s", url, last, logs)
}
