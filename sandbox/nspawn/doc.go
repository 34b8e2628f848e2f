// Package nspawn is the systemd-nspawn sandbox, Docspell's way of
// isolating trivial and nix addons: an ephemeral container over an
// empty root with the host's programs bound read-only, the run's
// directories at /mnt/..., a private network for pure addons, and (here
// beyond Docspell) cgroup limits and --register=no --keep-unit where no
// systemd runs. The command line is built by one pure function,
// CommandLine.
//
// It must not know about runners or the executor: it only turns a
// proc.Spec into an nspawn command.
package nspawn
