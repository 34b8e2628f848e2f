package service_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/service"
)

func TestErrorLineKeepsOneShortLine(t *testing.T) {
	missing := &engine.Error{Binary: "/usr/bin/docker", Args: []string{"run", "--name", "app", "--label", "berth.project=p", "nope:1"},
		ExitCode: 125, Kind: engine.ErrNotFound,
		Stderr: "Unable to find image 'nope:1' locally\ndocker: Error response from daemon: pull access denied\n\nRun 'docker run --help' for more information"}
	long := strings.Repeat("x", 200)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"an engine error", missing, "docker: exit status 125 (not found): docker: Error response from daemon: pull access denied"},
		{"a wrapped engine error keeps its context", fmt.Errorf("preStart[1]: %w", missing), "preStart[1]: docker: exit status 125 (not found): docker: Error response from daemon: pull access denied"},
		// The reviewer's unreachable registry (issue 14 §5): podman's
		// error comes last, after its progress and logged retries.
		{"podman's error line, not its progress", &engine.Error{Binary: "podman", ExitCode: 125,
			Stderr: "Trying to pull localhost:1/nothing:1...\ntime=\"x\" level=warning msg=\"Failed, retrying in 1s ... (1/3). Error: initializing source\"\nError: initializing source docker://localhost:1/nothing:1: connect: connection refused\n"},
			"podman: exit status 125: Error: initializing source docker://localhost:1/nothing:1: connect: connection refused"},
		{"an engine message without an error line", &engine.Error{Binary: "docker", ExitCode: 1, Stderr: "\nsomething odd\nmore\n"},
			"docker: exit status 1: something odd"},
		{"an engine error without stderr", &engine.Error{Binary: "docker", ExitCode: -1, Kind: engine.ErrBinaryMissing, Err: errors.New("exec: not found")},
			"docker (engine binary missing): exec: not found"},
		{"a plain error", errors.New("one\ntwo"), "one …"},
		{"a long line", errors.New(long), strings.Repeat("x", service.MaxLineWidth-1) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := service.ErrorLine(tt.err)
			if got != tt.want {
				t.Errorf("ErrorLine = %q, want %q", got, tt.want)
			}
			if strings.Contains(got, "\n") || len([]rune(got)) > service.MaxLineWidth {
				t.Errorf("ErrorLine = %q: not one line of at most %d", got, service.MaxLineWidth)
			}
		})
	}
}

func TestOneLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"short", "short"},
		{"\n  fir  \nsecond", "fir …"},
		{"abcdefghij", "abcd…"},
		{"abc\ndef", "abc …"},
	}
	for _, tt := range tests {
		if got := service.OneLine(tt.in, 5); got != tt.want {
			t.Errorf("OneLine(%q, 5) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
