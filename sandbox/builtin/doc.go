// Package builtin is berth's own sandbox: it runs an addon's program in
// fresh user, mount, pid, ipc, uts and (for addons without networking)
// network namespaces, set up by the berth binary re-executed as the
// sandbox's init (see Init), with a read-only view of the host's
// programs and libraries, the run's directories at /mnt/work,
// /mnt/output and /mnt/cache, cgroup limits (rlimits where berth may not
// create cgroups), no capabilities, no_new_privs and a seccomp filter.
//
// It needs no root, no daemon and no helper binary. It must not know
// about runners, addons' descriptors beyond their networking option, or
// the executor: it only turns a proc.Spec into an isolated one.
package builtin
