package wasm_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/runner/trivial"
	"github.com/berth-dev/berth/runner/wasm"
)

// BenchmarkRunTinyProgram runs the same tiny Go program (testdata/probe
// "exit 0": print {} and exit) through the executor twice over: built
// for linux and run by the trivial runner without a sandbox (a plain
// process start, the cheapest baseline berth has), and built for wasip1
// and run by the wasm runner from its compilation cache. Compare ns/op:
//
//	go test -run '^$' -bench RunTinyProgram -count 5 ./runner/wasm/
func BenchmarkRunTinyProgram(b *testing.B) {
	native := filepath.Join(b.TempDir(), "probe")
	cmd := exec.Command("go", "build", "-o", native, ".")
	cmd.Dir = filepath.Join("testdata", "probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building the probe natively: %v\n%s", err, out)
	}
	nativeAddon := b.TempDir()
	writeFile(b, filepath.Join(nativeAddon, "docspell-addon.yaml"), []byte("meta: {name: tiny, version: '1'}\nargs: [exit, '0']\nrunner: {trivial: {enable: true, exec: probe}}\n"))
	data, err := os.ReadFile(native)
	if err != nil {
		b.Fatal(err)
	}
	writeFile(b, filepath.Join(nativeAddon, "probe"), data)

	wasmAddon := writeAddon(b, "tiny", fixture(b, "probe"), []string{"exit", "0"}, nil)

	for _, bc := range []struct {
		name string
		r    runner.Runner
		dir  string
	}{
		{"trivial-native-no-sandbox", trivial.New(nil), nativeAddon},
		{"wasm-compile-cached", newRunner(b, wasm.Config{MemoryBytes: 2 << 30}), wasmAddon},
	} {
		b.Run(bc.name, func(b *testing.B) {
			a := load(b, bc.dir)
			ex := newExecutor(b, bc.r)
			req := executor.Request{Steps: []executor.Step{{Addon: a}}}
			// The first run compiles (wasm); it is not what is measured.
			if res, err := ex.Run(context.Background(), req); err != nil || res.Kind != executor.Success {
				b.Fatalf("warm-up run: %v %+v", err, res)
			}
			b.ResetTimer()
			for b.Loop() {
				res, err := ex.Run(context.Background(), req)
				if err != nil || res.Kind != executor.Success {
					b.Fatalf("run: %v %+v", err, res)
				}
			}
		})
	}
}
