// Command wash is a POSIX shell for WASI preview1 (mvdan.cc/sh's
// interpreter with cat, env, ls, sleep and setsid built in). The wasm
// runner's tests package it with a script, so that the contract suite
// every runner passes (runner/runnertest, written in sh) runs unchanged
// against the wasm runner. It runs $ADDON_DIR/bin/run.sh with its own
// arguments as the positional parameters.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

func main() {
	script := filepath.Join(os.Getenv("ADDON_DIR"), "bin", "run.sh")
	f, err := os.Open(script)
	if err != nil {
		fail(2, err)
	}
	prog, err := syntax.NewParser().Parse(f, script)
	if err != nil {
		fail(2, err)
	}
	r, err := interp.New(
		interp.StdIO(nil, os.Stdout, os.Stderr),
		interp.Params(append([]string{"--"}, os.Args[1:]...)...),
		interp.ExecHandlers(commands),
		interp.OpenHandler(open),
	)
	if err != nil {
		fail(2, err)
	}
	err = r.Run(context.Background(), prog)
	var st interp.ExitStatus
	if errors.As(err, &st) {
		os.Exit(int(st))
	}
	if err != nil {
		fail(1, err)
	}
}

func fail(code int, err error) {
	fmt.Fprintln(os.Stderr, "wash:", err)
	os.Exit(code)
}

type nopCloser struct{ io.ReadWriter }

func (nopCloser) Close() error { return nil }

type devNull struct{}

func (devNull) Read([]byte) (int, error)    { return 0, io.EOF }
func (devNull) Write(p []byte) (int, error) { return len(p), nil }

func open(ctx context.Context, path string, flag int, perm os.FileMode) (io.ReadWriteCloser, error) {
	if path == "/dev/null" {
		return nopCloser{devNull{}}, nil
	}
	return interp.DefaultOpenHandler()(ctx, path, flag, perm)
}

func commands(next interp.ExecHandlerFunc) interp.ExecHandlerFunc {
	var run interp.ExecHandlerFunc
	run = func(ctx context.Context, args []string) error {
		hc := interp.HandlerCtx(ctx)
		abs := func(p string) string {
			if filepath.IsAbs(p) {
				return p
			}
			return filepath.Join(hc.Dir, p)
		}
		switch args[0] {
		case "env":
			hc.Env.Each(func(name string, v expand.Variable) bool {
				if v.Exported && v.IsSet() {
					fmt.Fprintf(hc.Stdout, "%s=%s\n", name, v.String())
				}
				return true
			})
		case "cat":
			if len(args) == 1 {
				_, err := io.Copy(hc.Stdout, hc.Stdin)
				return err
			}
			for _, a := range args[1:] {
				b, err := os.ReadFile(abs(a))
				if err != nil {
					fmt.Fprintln(hc.Stderr, "cat:", err)
					return interp.ExitStatus(1)
				}
				hc.Stdout.Write(b)
			}
		case "ls":
			dir := hc.Dir
			if len(args) > 1 {
				dir = abs(args[1])
			}
			es, err := os.ReadDir(dir)
			if err != nil {
				fmt.Fprintln(hc.Stderr, "ls:", err)
				return interp.ExitStatus(1)
			}
			names := make([]string, len(es))
			for i, e := range es {
				names[i] = e.Name()
			}
			slices.Sort(names)
			for _, n := range names {
				fmt.Fprintln(hc.Stdout, n)
			}
		case "mkdir": // mkdir [-p] DIR...: the contract suite's HOME case
			for _, a := range args[1:] {
				if a == "-p" {
					continue
				}
				if err := os.MkdirAll(abs(a), 0o755); err != nil {
					fmt.Fprintln(hc.Stderr, "mkdir:", err)
					return interp.ExitStatus(1)
				}
			}
		case "sleep":
			n, err := strconv.ParseFloat(args[len(args)-1], 64)
			if err != nil {
				return interp.ExitStatus(1)
			}
			select {
			case <-time.After(time.Duration(n * float64(time.Second))):
			case <-ctx.Done():
			}
		case "setsid":
			return run(ctx, args[1:])
		default:
			fmt.Fprintf(hc.Stderr, "wash: %s: command not found\n", args[0])
			return interp.ExitStatus(127)
		}
		return nil
	}
	return run
}
