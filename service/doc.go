// Package service supervises the containers declared in a services file
// (package spec): it computes what `up` would change against what runs now
// (Plan), runs each container's pre-start steps in NixOS's order, keeps
// `<engine> run` in the foreground, starts containers after their
// dependencies and stops dependents when a dependency goes away
// (systemd's After= and Requires=), restarts with exponential backoff and a
// start limit, and publishes every service's state in a state directory
// that other processes (`berth services status|logs|restart|down`) read.
//
// It drives engines only through package engine and must not know about
// cobra, printing, addons or systemd units (package service/systemd
// generates those).
package service
