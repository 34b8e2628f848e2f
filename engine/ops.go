package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Version returns the server (daemon) version; for podman, the version of
// the podman library. It fails with ErrDaemonUnreachable when docker's
// daemon is not running.
func (c *Client) Version(ctx context.Context) (string, error) {
	out, err := c.Run(ctx, []string{"version", "--format", "{{.Server.Version}}"}, RunOpts{})
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// Ping checks that the engine answers (daemon reachable, storage usable).
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.Run(ctx, []string{"info"}, RunOpts{})
	return err
}

// ImageExists reports whether ref is present locally.
func (c *Client) ImageExists(ctx context.Context, ref string) (bool, error) {
	_, err := c.Run(ctx, []string{"image", "inspect", "--format", "{{.Id}}", ref}, RunOpts{})
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		// podman says "failed to find image" / docker "No such image";
		// an unknown error with exit 1 and "not found" wording is also absence.
		var e *Error
		if errors.As(err, &e) && e.Kind == ErrUnknown && strings.Contains(strings.ToLower(e.Stderr), "no such") {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// RemoveContainer removes the container name; force also kills it when it
// runs. A container that does not exist is not an error.
func (c *Client) RemoveContainer(ctx context.Context, name string, force bool) error {
	args := []string{"rm"}
	if force {
		args = append(args, "-f")
	}
	_, err := c.Run(ctx, append(args, name), RunOpts{})
	var e *Error
	if errors.Is(err, ErrNotFound) || (errors.As(err, &e) && strings.Contains(e.Stderr, "already in progress")) {
		// gone, or going (docker's --rm removal racing with ours)
		return nil
	}
	return err
}

// DefaultGrace, as StopContainer's timeout, passes no -t: the engine uses
// the container's own stop timeout (`run --stop-timeout`, else its default
// of 10 s).
const DefaultGrace time.Duration = -1

// StopContainer stops name, giving it timeout between SIGTERM and SIGKILL
// (DefaultGrace: the container's own). A container that does not exist is
// not an error.
func (c *Client) StopContainer(ctx context.Context, name string, timeout time.Duration) error {
	args := []string{"stop"}
	if timeout >= 0 {
		args = append(args, "-t", strconv.Itoa(int(timeout.Round(time.Second)/time.Second)))
	}
	_, err := c.Run(ctx, append(args, name), RunOpts{})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// KillContainer sends signal (e.g. "KILL") to the container's main process.
func (c *Client) KillContainer(ctx context.Context, name, signal string) error {
	_, err := c.Run(ctx, []string{"kill", "--signal", signal, name}, RunOpts{})
	return err
}

// Login logs in to registry with the password read from password (never
// argv). The password is not logged and not kept.
func (c *Client) Login(ctx context.Context, registry, username string, password io.Reader) error {
	_, err := c.Run(ctx, []string{"login", "--username", username, "--password-stdin", registry}, RunOpts{Stdin: password})
	return err
}

// LoadImageFile loads an image archive (docker save / dockerTools format).
func (c *Client) LoadImageFile(ctx context.Context, path string) error {
	_, err := c.Run(ctx, []string{"load", "-i", path}, RunOpts{})
	return err
}

// LoadImage loads an image archive read from r.
func (c *Client) LoadImage(ctx context.Context, r io.Reader) error {
	_, err := c.Run(ctx, []string{"load"}, RunOpts{Stdin: r})
	return err
}

// ImportImage creates image ref from a root filesystem tarball read from r.
func (c *Client) ImportImage(ctx context.Context, r io.Reader, ref string) error {
	_, err := c.Run(ctx, []string{"import", "-", ref}, RunOpts{Stdin: r})
	return err
}

// ContainerInfo is the part of `inspect` berth uses.
type ContainerInfo struct {
	ID      string
	Name    string
	Image   string
	Running bool
	Pid     int
	// ExitCode is the last exit status when not running.
	ExitCode  int
	StartedAt time.Time
	Labels    map[string]string
}

// InspectContainer returns what the engine knows of container name, or an
// error of kind ErrNotFound.
func (c *Client) InspectContainer(ctx context.Context, name string) (ContainerInfo, error) {
	out, err := c.Run(ctx, []string{"container", "inspect", name}, RunOpts{})
	if err != nil {
		return ContainerInfo{}, err
	}
	var raw []struct {
		ID     string `json:"Id"`
		Name   string
		Image  string
		Config struct {
			Image  string
			Labels map[string]string
		}
		State struct {
			Running   bool
			Pid       int
			ExitCode  int
			StartedAt time.Time
		}
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return ContainerInfo{}, fmt.Errorf("decoding %s container inspect %s: %w", c.Binary, name, err)
	}
	if len(raw) == 0 {
		return ContainerInfo{}, &Error{Binary: c.Binary, Args: []string{"container", "inspect", name}, Kind: ErrNotFound, ExitCode: 0}
	}
	r := raw[0]
	return ContainerInfo{
		ID: r.ID, Name: strings.TrimPrefix(r.Name, "/"), Image: r.Config.Image,
		Running: r.State.Running, Pid: r.State.Pid, ExitCode: r.State.ExitCode,
		StartedAt: r.State.StartedAt, Labels: r.Config.Labels,
	}, nil
}

// ListContainers returns the names of all containers (running or not)
// carrying label (either "key" or "key=value").
func (c *Client) ListContainers(ctx context.Context, label string) ([]string, error) {
	out, err := c.Run(ctx, []string{"ps", "-a", "--filter", "label=" + label, "--format", "{{.Names}}"}, RunOpts{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, l := range strings.Split(string(bytes.TrimSpace(out)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			names = append(names, l)
		}
	}
	return names, nil
}
