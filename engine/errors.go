package engine

import (
	"errors"
	"fmt"
	"strings"
)

// Kind classifies an engine failure so callers branch on kinds, not on
// stderr strings. A Kind is itself an error, so errors.Is(err, ErrNotFound)
// works on any *Error.
type Kind string

func (k Kind) Error() string { return string(k) }

// Error kinds. Classification happens once, in classify.
const (
	// ErrUnknown is a failure no other kind describes; read Error.Stderr.
	ErrUnknown Kind = "engine command failed"
	// ErrBinaryMissing: the docker/podman binary is not installed or not on PATH.
	ErrBinaryMissing Kind = "engine binary missing"
	// ErrDaemonUnreachable: the CLI could not reach its daemon (docker) or service.
	ErrDaemonUnreachable Kind = "engine daemon unreachable"
	// ErrNotFound: the container or image named does not exist.
	ErrNotFound Kind = "not found"
	// ErrAlreadyExists: a container of that name already exists.
	ErrAlreadyExists Kind = "already exists"
	// ErrUnauthorized: the registry refused the credentials.
	ErrUnauthorized Kind = "unauthorized"
	// ErrCanceled: the context was canceled or timed out while the command ran.
	ErrCanceled Kind = "canceled"
)

// Error is a failed engine command. Args never contain secrets: values of
// --password and of -e/--env are redacted before the Error is built.
type Error struct {
	Binary   string
	Args     []string // redacted
	ExitCode int      // -1 when the process did not exit normally
	Stderr   string   // the last few KiB of stderr, trimmed
	Kind     Kind
	Err      error // underlying cause (exec error, context error), may be nil
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", e.Binary, strings.Join(e.Args, " "))
	if e.ExitCode >= 0 {
		fmt.Fprintf(&b, ": exit status %d", e.ExitCode)
	}
	if e.Kind != ErrUnknown {
		fmt.Fprintf(&b, " (%s)", e.Kind)
	}
	if e.Stderr != "" {
		fmt.Fprintf(&b, ": %s", e.Stderr)
	} else if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Is reports whether target is this error's Kind.
func (e *Error) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == e.Kind
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of err, or "" when err is not an engine error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// classify maps an exit and its stderr to a Kind. Both docker's and
// podman's wordings are recognised. A bare "connect: connection
// refused" is not the engine's: a registry that does not answer says it
// too, inside a pull's error.
func classify(stderr string) Kind {
	s := strings.ToLower(stderr)
	switch {
	case containsAny(s, "cannot connect to the docker daemon", "is the docker daemon running",
		"unable to connect to podman", "cannot connect to podman", "error during connect",
		"docker.sock: connect: no such file"):
		return ErrDaemonUnreachable
	case containsAny(s, "unauthorized", "authentication required", "incorrect username or password",
		"401 unauthorized", "invalid username/password", "access denied", "denied: requested access"):
		return ErrUnauthorized
	case containsAny(s, "is already in use", "already exists", "conflict. the container name"):
		return ErrAlreadyExists
	case containsAny(s, "no such container", "no such image", "no such object", "no such volume",
		"no container with name or id", "image not known", "failed to find image",
		"no such network", "not found: manifest unknown", "manifest unknown", "repository does not exist"):
		return ErrNotFound
	}
	return ErrUnknown
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// redact returns a copy of args with secret values replaced by "***":
// --password VALUE / --password=VALUE / -p VALUE after login, and the value
// part of -e/--env KEY=VALUE (environment values often carry credentials).
func redact(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	login := false
	for _, a := range args {
		if a == "login" {
			login = true
			break
		}
	}
	for i := 0; i < len(out); i++ {
		a := out[i]
		switch {
		case a == "--password" || (login && a == "-p"):
			if i+1 < len(out) {
				out[i+1] = "***"
				i++
			}
		case strings.HasPrefix(a, "--password="):
			out[i] = "--password=***"
		case a == "-e" || a == "--env":
			if i+1 < len(out) {
				out[i+1] = redactEnv(out[i+1])
				i++
			}
		case strings.HasPrefix(a, "--env="):
			out[i] = "--env=" + redactEnv(strings.TrimPrefix(a, "--env="))
		}
	}
	return out
}

func redactEnv(kv string) string {
	if k, _, ok := strings.Cut(kv, "="); ok {
		return k + "=***"
	}
	return kv
}
