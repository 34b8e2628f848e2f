package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/service/spec"
)

// hookWaitDelay bounds the wait for a cancelled preStart hook's output
// pipes to close.
const hookWaitDelay = 5 * time.Second

// PreStartError is a pre-start step that failed and blocked the start.
type PreStartError struct {
	Container string
	Step      string // "login", "imageFile", "imageStream", "preStart[2]", ...
	Err       error
}

func (e *PreStartError) Error() string {
	return fmt.Sprintf("container %s: pre-start %s: %v", e.Container, e.Step, e.Err)
}
func (e *PreStartError) Unwrap() error { return e.Err }

// preStart runs the pre-start steps of container name in NixOS's order:
// remove a stale container of that name — only one berth created for
// project, or any with replace (a stranger that took the name since the
// plan fails the start: *StrangerError); log in when login is complete
// (password on stdin), going on after a failed login only when the image is
// already present; load imageFile or imageStream; then the user's preStart
// commands in order. Between the removal and the login, the declared
// networks and volumes the container uses are created when missing
// (berth's addition). Output goes to log.
//
// Each step is told to p (the log and the starting state's detail).
func preStart(ctx context.Context, eng *engine.Client, f *spec.File, project, name string, p stepper) error {
	c := f.Containers[name]
	if !c.Replace {
		info, err := eng.InspectContainer(ctx, name)
		switch {
		case err == nil && info.Labels[LabelProject] != project:
			return &PreStartError{name, "remove stale container", &StrangerError{Name: name, Project: info.Labels[LabelProject], Want: project}}
		case err != nil && !errors.Is(err, engine.ErrNotFound):
			return &PreStartError{name, "inspect stale container", err}
		}
	}
	p.step("pre-start: removing stale container %s", name)
	if err := eng.RemoveContainer(ctx, name, true); err != nil {
		return &PreStartError{name, "remove stale container", err}
	}
	if err := ensureResources(ctx, eng, f, project, name, p); err != nil {
		return err
	}
	if c.Login.Complete() {
		if err := login(ctx, eng, c, p); err != nil {
			ok, ierr := eng.ImageExists(ctx, c.Image)
			if ierr != nil || !ok {
				return &PreStartError{name, "login", fmt.Errorf("image %s doesn't exist locally and login failed: %w", c.Image, err)}
			}
			p.log.note("pre-start: login to %s failed (%v); image %s is present locally, going on", *c.Login.Registry, err, c.Image)
		}
	}
	if c.ImageFile != nil {
		if err := startFile(*c.ImageFile, false); err != nil {
			return &PreStartError{name, "imageFile", err}
		}
		size := ""
		if fi, err := os.Stat(*c.ImageFile); err == nil {
			size = " (" + byteSize(fi.Size()) + ")"
		}
		p.step("pre-start: loading image file %s%s", *c.ImageFile, size)
		stop := p.during(func(d time.Duration) string {
			return fmt.Sprintf("pre-start: loading image file %s%s, %s so far", *c.ImageFile, size, d)
		})
		err := eng.LoadImageFile(ctx, *c.ImageFile)
		stop()
		if err != nil {
			return &PreStartError{name, "imageFile", err}
		}
	}
	if c.ImageStream != nil {
		if err := startFile(*c.ImageStream, true); err != nil {
			return &PreStartError{name, "imageStream", err}
		}
		p.step("pre-start: loading image stream %s", *c.ImageStream)
		if err := loadStream(ctx, eng, *c.ImageStream, p); err != nil {
			return &PreStartError{name, "imageStream", err}
		}
	}
	for i, cmd := range c.PreStart {
		p.step("pre-start: running preStart[%d]: %s", i, strings.Join(cmd, " "))
		x := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
		x.Stdout, x.Stderr = p.log, p.log
		x.Env = append(os.Environ(), "BERTH_CONTAINER="+name, "BERTH_IMAGE="+c.Image)
		// Cancelling kills the hook's whole process group: killing only
		// /bin/sh would leave its children holding the log pipe open.
		x.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		x.Cancel = func() error { return syscall.Kill(-x.Process.Pid, syscall.SIGKILL) }
		x.WaitDelay = hookWaitDelay
		if err := x.Run(); err != nil {
			return &PreStartError{name, fmt.Sprintf("preStart[%d] (%s)", i, strings.Join(cmd, " ")), err}
		}
	}
	return nil
}

// startFile checks a file the container needs now that it starts (not
// when the services file was loaded: it may be built or decrypted later).
func startFile(path string, executable bool) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s does not exist (yet): it is read when the container starts", path)
	case err != nil:
		return err
	case fi.IsDir():
		return fmt.Errorf("%s is a directory", path)
	case executable && fi.Mode()&0o111 == 0:
		return fmt.Errorf("%s is not executable (an imageStream is a program printing an image archive)", path)
	}
	return nil
}

func login(ctx context.Context, eng *engine.Client, c *spec.Container, p stepper) error {
	f, err := os.Open(*c.Login.PasswordFile)
	if err != nil {
		return fmt.Errorf("login.passwordFile: %w", err)
	}
	defer f.Close()
	p.step("pre-start: logging in to %s as %s (password from %s)", *c.Login.Registry, *c.Login.Username, *c.Login.PasswordFile)
	return eng.Login(ctx, *c.Login.Registry, *c.Login.Username, f)
}

// loadStream runs the imageStream program and pipes its stdout into
// `<engine> load`, as NixOS's `${imageStream} | docker load` does; the
// detail says how much of the stream has been loaded.
func loadStream(ctx context.Context, eng *engine.Client, program string, p stepper) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	x := exec.CommandContext(ctx, program)
	x.Stderr = p.log
	out, err := x.StdoutPipe()
	if err != nil {
		return err
	}
	if err := x.Start(); err != nil {
		return err
	}
	cr := &countingReader{r: out}
	stop := p.during(func(d time.Duration) string {
		return fmt.Sprintf("pre-start: loading image stream %s, %s read in %s", program, byteSize(cr.n.Load()), d)
	})
	loadErr := eng.LoadImage(ctx, cr)
	stop()
	if loadErr != nil {
		cancel()
	}
	waitErr := x.Wait()
	if waitErr != nil && loadErr == nil {
		return fmt.Errorf("%s: %w", program, waitErr)
	}
	return loadErr
}
