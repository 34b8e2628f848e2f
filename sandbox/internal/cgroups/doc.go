// Package cgroups creates one control group per sandboxed run, with
// memory, pids and CPU limits, on cgroup v2 or v1 (hybrid hosts keep the
// controllers on v1), and reads back whether the memory limit killed
// something. It writes files under /sys/fs/cgroup and nothing else; it
// knows nothing about namespaces, addons or runners.
package cgroups
