package engine

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"a password flag value is hidden", "login --username u --password s3cret reg", "login --username u --password *** reg"},
		{"a password= flag is hidden", "login --password=s3cret reg", "login --password=*** reg"},
		{"-p after login is a password", "login -p s3cret reg", "login -p *** reg"},
		{"-p in run is a port and stays", "run -p 80:80 img", "run -p 80:80 img"},
		{"environment values are hidden, keys stay", "run -e DB_PASS=x --env=A=b img", "run -e DB_PASS=*** --env=A=*** img"},
		{"password-stdin is not a secret", "login --username u --password-stdin reg", "login --username u --password-stdin reg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(redact(strings.Fields(tt.in)), " "); got != tt.want {
				t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		stderr string
		want   Kind
	}{
		{"Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", ErrDaemonUnreachable},
		{"Error: No such container: x", ErrNotFound},
		{"Error: no container with name or ID \"x\" found: no such container", ErrNotFound},
		{"Error response from daemon: No such image: x:1", ErrNotFound},
		{"Error: x: image not known", ErrNotFound},
		{"docker: Error response from daemon: Conflict. The container name \"/x\" is already in use", ErrAlreadyExists},
		{"Error response from daemon: Get \"http://127.0.0.1:5000/v2/\": unauthorized: authentication required", ErrUnauthorized},
		{"something else", ErrUnknown},
		// As docker 20.10 and podman 4.3 say them here.
		{"Cannot connect to the Docker daemon at tcp://127.0.0.1:1. Is the docker daemon running?", ErrDaemonUnreachable},
		{"Cannot connect to Podman. Please verify your connection to the Linux system", ErrDaemonUnreachable},
		{"Error: unable to connect to Podman socket: Get \"http://d/v4.3.1/libpod/_ping\": dial tcp 127.0.0.1:1: connect: connection refused", ErrDaemonUnreachable},
		// A registry that does not answer is not the engine.
		{"Unable to find image 'localhost:1/nothing:1' locally\ndocker: Error response from daemon: Get \"http://localhost:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused", ErrUnknown},
		{"Error: initializing source docker://localhost:1/nothing:1: pinging container registry localhost:1: Get \"https://localhost:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused", ErrUnknown},
	}
	for _, tt := range tests {
		t.Run(string(tt.want)+" from "+tt.stderr, func(t *testing.T) {
			if got := classify(tt.stderr); got != tt.want {
				t.Errorf("classify = %q, want %q", got, tt.want)
			}
		})
	}
}
