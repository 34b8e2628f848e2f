// Package cgroups creates one control group per sandboxed run, with
// memory, pids and CPU limits, on cgroup v2 or v1 (hybrid hosts keep the
// controllers on v1), and reads back whether the memory limit killed
// something. On cgroup v2 the runs' groups stay below berth's own
// cgroup (its systemd unit's, with Delegate=yes): berth first moves its
// processes into a leaf child, LeafName, so that its group may pass the
// controllers on. It writes files under the cgroup mounts and nothing
// else; it knows nothing about namespaces, addons or runners.
package cgroups
