package wasm

// Compiles reports how many modules r compiled (not found in a cache).
func Compiles(r *Runner) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.compiles
}
