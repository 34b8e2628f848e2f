// Command probe is a WASI preview1 program for the wasm runner's tests:
// its first argument says what to try. It prints "{}" (empty output) when
// what it tried behaved as a confined module must, and exits 1 naming
// what it managed to do when it escaped.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe read|write|symlink|exit|hog|sleep ARG...")
		os.Exit(2)
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "read":
		// Every path must be unreadable.
		for _, p := range args {
			if p == "--" {
				break
			}
			if b, err := os.ReadFile(p); err == nil {
				escaped("read %s: %q", p, b)
			} else {
				fmt.Fprintf(os.Stderr, "read %s: %v\n", p, err)
			}
		}
	case "write":
		for _, p := range args {
			if p == "--" {
				break
			}
			if err := os.WriteFile(p, []byte("written by a wasm module"), 0o644); err == nil {
				escaped("wrote %s", p)
			} else {
				fmt.Fprintf(os.Stderr, "write %s: %v\n", p, err)
			}
		}
	case "symlink":
		// symlink TARGET LINK READ: making LINK must fail, or reading
		// READ through it must.
		target, link, read := args[0], args[1], args[2]
		if err := os.Symlink(target, link); err != nil {
			fmt.Fprintf(os.Stderr, "symlink %s -> %s: %v\n", link, target, err)
		}
		if b, err := os.ReadFile(read); err == nil {
			escaped("read %s through %s: %q", read, link, b)
		} else {
			fmt.Fprintf(os.Stderr, "read %s: %v\n", read, err)
		}
	case "inside":
		// A relative symlink that stays in WORK works.
		if err := os.WriteFile("temp/real", []byte("ok"), 0o644); err != nil {
			fail(err)
		}
		if err := os.Symlink("real", "temp/link"); err != nil {
			fail(err)
		}
		b, err := os.ReadFile("temp/link")
		if err != nil || string(b) != "ok" {
			fail(fmt.Errorf("reading through an inside symlink: %q %v", b, err))
		}
	case "exit":
		n, _ := strconv.Atoi(args[0])
		fmt.Fprintf(os.Stderr, "exiting with %d\n", n)
		os.Exit(n)
	case "hog":
		// Allocate and touch 8 MiB blocks until the memory limit stops it.
		var keep [][]byte
		for i := 0; ; i++ {
			b := make([]byte, 8<<20)
			for j := range b {
				b[j] = byte(i + j)
			}
			keep = append(keep, b)
			if i%16 == 0 {
				fmt.Fprintf(os.Stderr, "holding %d MiB\n", len(keep)*8)
			}
		}
	case "sleep":
		d, _ := time.ParseDuration(args[0])
		time.Sleep(d)
	default:
		fmt.Fprintf(os.Stderr, "unknown probe %q\n", os.Args[1])
		os.Exit(2)
	}
	fmt.Println("{}")
}

func escaped(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ESCAPED: "+format+"\n", args...)
	os.Exit(1)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
