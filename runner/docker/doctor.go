package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/engine"
)

// ProbeImage is the image Doctor creates its probe container from: an
// empty file system (imported, so no registry is needed). The probe is
// created but never started, so it needs no program.
const ProbeImage = "berth/probe:1"

// PathError says that the engine daemon does not see a directory of
// berth's at the path berth gives it: bind mounts would fail ("bind
// source path does not exist") or, worse, show the addon another
// directory. It happens when berth runs in a container and talks to the
// host's daemon.
type PathError struct {
	Engine    string // docker or podman
	Dir       string // berth's view
	DaemonDir string // the path given to the daemon (after docker.path-map)
	Reason    string
}

func (e *PathError) Error() string {
	return fmt.Sprintf("the %s daemon does not see berth's directory %s at %s: %s.\n"+
		"Fix: when berth runs in a container, bind its working directory at the same path on both sides "+
		"(docker run -v %s:%s ...), or tell berth where the daemon sees it in berth.yaml:\n"+
		"  docker:\n    path-map:\n      %q: \"<the same directory as the host sees it>\"",
		e.Engine, e.Dir, e.DaemonDir, e.Reason, e.Dir, e.Dir, filepath.Dir(e.Dir))
}

// Doctor proves that containers see berth's working directory: it writes
// a marker file into a fresh directory under workDir, creates a probe
// container with that directory (translated by docker.path-map) bound in,
// and copies the marker back out through the daemon. Anything but the
// same marker is a *PathError whose message prints the fix. Nothing is
// left behind but the probe image. `berth doctor` calls it.
func (r *Runner) Doctor(ctx context.Context, workDir string) error {
	if err := r.Available(ctx); err != nil {
		return err
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return fmt.Errorf("doctor: creating the working directory: %w", err)
	}
	dir, err := os.MkdirTemp(workDir, "berth-doctor-")
	if err != nil {
		return fmt.Errorf("doctor: %w", err)
	}
	defer os.RemoveAll(dir)
	// MkdirTemp makes it 0700; the daemon may read it as another user.
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("doctor: %w", err)
	}
	token := "berth-doctor " + randomHex(16) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "marker"), []byte(token), 0o644); err != nil {
		return fmt.Errorf("doctor: writing the marker: %w", err)
	}
	if err := r.ensureProbeImage(ctx); err != nil {
		return fmt.Errorf("doctor: making the probe image %s: %w", ProbeImage, err)
	}

	daemonDir := r.cfg.DaemonPath(dir)
	fail := func(reason string) error {
		return &PathError{Engine: r.eng.Flavor(), Dir: dir, DaemonDir: daemonDir, Reason: reason}
	}
	name := "berth-probe-" + randomHex(4)
	args, err := ProbeArgs(name, ProbeImage, daemonDir)
	if err != nil {
		return fmt.Errorf("doctor: %w", err)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	defer r.remove(cctx, name, r.logger())
	if _, err := r.eng.Run(ctx, args, engine.RunOpts{}); err != nil {
		var ee *engine.Error
		if errors.As(err, &ee) && (strings.Contains(ee.Stderr, "does not exist") || strings.Contains(ee.Stderr, "no such file")) {
			return fail("the directory does not exist for the daemon (" + lastLine(ee.Stderr) + ")")
		}
		return fmt.Errorf("doctor: creating the probe container: %w", err)
	}
	out, err := r.eng.Run(ctx, []string{"cp", name + ":/mnt/probe/marker", "-"}, engine.RunOpts{})
	if err != nil {
		var ee *engine.Error
		if errors.As(err, &ee) && ee.ExitCode > 0 {
			return fail("the directory the daemon mounts does not hold the marker file berth wrote (" + lastLine(ee.Stderr) + ")")
		}
		return fmt.Errorf("doctor: copying the marker out of the probe: %w", err)
	}
	got, err := firstFile(out)
	if err != nil {
		return fmt.Errorf("doctor: reading the marker copied out of the probe: %w", err)
	}
	if got != token {
		return fail("the directory the daemon mounts holds another marker file: it is not the same directory")
	}
	return nil
}

func (r *Runner) ensureProbeImage(ctx context.Context) error {
	ok, err := r.eng.ImageExists(ctx, ProbeImage)
	if err != nil || ok {
		return err
	}
	var empty bytes.Buffer
	if err := tar.NewWriter(&empty).Close(); err != nil {
		return err
	}
	_, err = r.eng.Run(ctx, []string{"import", "--change", "LABEL " + LabelProbe + "=1", "-", ProbeImage}, engine.RunOpts{Stdin: &empty})
	return err
}

// firstFile returns the content of the first regular file of a tar.
func firstFile(b []byte) (string, error) {
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err != nil {
			return "", err
		}
		if h.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(io.LimitReader(tr, 4096))
			return string(data), err
		}
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
