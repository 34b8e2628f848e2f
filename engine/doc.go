// Package engine runs the docker and podman command-line clients.
//
// It is the one place in berth that turns an argument list into a running
// engine CLI process: with a context (cancel stops it), optional stdin,
// captured output, and errors classified once into kinds callers can branch
// on (ErrNotFound, ErrDaemonUnreachable, ErrBinaryMissing, ...). Both the
// docker addon runner and the container services supervisor use it.
//
// It must not know about addons, services, specs or systemd: callers build
// the argument lists, this package only runs them. Secrets never travel in
// argv: Login takes the password on stdin, and Error redacts the values of
// password and environment flags so they never reach logs or messages.
package engine
