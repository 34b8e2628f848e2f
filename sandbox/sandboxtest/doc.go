// Package sandboxtest is the adversarial suite every sandbox must pass:
// hostile fixture addons (testdata/hostile) that try to reach the
// network, read secrets, write outside their directories, see or kill
// host processes, fork-bomb, eat memory, leave daemons behind or outlive
// a timeout. Each must be contained and the host left unchanged.
//
// It runs the fixtures through the real executor and trivial runner, so
// it must not know how a sandbox works; the sandbox's own tests call
// Adversarial with a sandbox configured with the Limits below.
package sandboxtest
