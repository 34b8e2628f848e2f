// Package wasm is the runner for addons shipped as a WebAssembly module
// (runner.wasm.module): a WASI preview1 command run in-process with
// wazero. The module sees only the run's three directories (WORK, OUTPUT_DIR,
// CACHE_DIR, mounted at runner.ContainerPaths), its arguments and the
// contract environment; WASI preview1 has no sockets, so every run is
// isolated by construction and needs no runner.Sandbox. Compiled code is
// kept in wazero's compilation cache under berth's cache directory.
//
// It must not know the executor or any other runner; it knows the
// contract only through package runner.
package wasm
