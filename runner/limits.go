package runner

// Enforcement says how a sandbox bounded one run, for the run's result
// and berth doctor: which mechanism, which limits hold, which configured
// ones do not, and whether a kill for the memory limit is reported.
type Enforcement struct {
	// By is the mechanism: "cgroup v2", "cgroup v1", "rlimits",
	// "systemd scope" (nspawn registered with machined) or "none".
	By string `json:"by"`
	// Applied lists the limits in force ("memory 2GiB", "pids 1024").
	Applied []string `json:"applied,omitempty"`
	// Missing lists configured limits that do not hold here.
	Missing []string `json:"missing,omitempty"`
	// OOMReported is whether a kill for the memory limit shows as
	// outOfMemory in the result.
	OOMReported bool `json:"oomReported"`
	// Why says why limits are missing or an OOM kill is not reported,
	// with the fix; "" when nothing is missing.
	Why string `json:"why,omitempty"`
}
