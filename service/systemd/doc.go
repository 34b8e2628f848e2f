// Package systemd turns a services file into systemd units equivalent to
// the ones NixOS's oci-containers module generates: one unit per
// container, with a pre-start script (stale container removal, registry
// login with offline fallback, image load) followed by the user's preStart
// entries, the `run` command from spec.RunArgs, ExecStop/ExecStopPost,
// Restart, timeouts, After=/Requires= from dependsOn, and podman's notify
// settings.
//
// Units is a pure function of its inputs (golden-tested); writing the
// files is left to the caller. It must not run engines or systemctl.
package systemd
