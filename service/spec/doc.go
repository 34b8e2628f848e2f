// Package spec reads and validates a berth services file: the containers
// an admin declares, with every option of NixOS's
// virtualisation.oci-containers module (same names, types, defaults and
// meaning) plus berth's additions (preStart, restart, stopTimeout,
// restartBackoff, startLimit). It also holds the pure functions derived
// from one container's spec: the engine `run` argument list (RunArgs), in
// NixOS's flag order, and the spec hash that marks a running container's
// configuration.
//
// It must not run anything: no engine, no processes, no systemd. Loading
// reads the spec file and checks that files it names exist; that is all the
// I/O here.
package spec
