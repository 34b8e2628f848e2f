// Command hello-wasm is the hello example addon as a WASI preview1
// command. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -o hello.wasm .
//
// berth's wasm runner starts it with the addon contract: arguments
// (--greeting, then the path of the user-input file), the contract
// environment, and WORK, OUTPUT_DIR and CACHE_DIR as its only files.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	if len(os.Args) != 3 || os.Args[1] != "--greeting" {
		fmt.Fprintf(os.Stderr, "usage: %s --greeting USER-INPUT-FILE\n", os.Args[0])
		os.Exit(2)
	}
	input, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail(err)
	}
	greeting := strings.TrimSpace(string(input))
	if greeting == "" {
		greeting = "Hello"
	}
	fmt.Fprintf(os.Stderr, "hello-wasm: greeting is %q\n", greeting)
	if err := os.WriteFile(filepath.Join(os.Getenv("OUTPUT_DIR"), "greeting.txt"), []byte(greeting+"\n"), 0o644); err != nil {
		fail(err)
	}

	// Count the runs in CACHE_DIR, which survives them.
	counter := filepath.Join(os.Getenv("CACHE_DIR"), "runs")
	runs := 0
	if b, err := os.ReadFile(counter); err == nil {
		fmt.Sscan(string(b), &runs)
	}
	runs++
	if err := os.WriteFile(counter, []byte(fmt.Sprint(runs)), 0o644); err != nil {
		fail(err)
	}

	out := map[string]any{"commands": []any{}, "files": []any{}, "newItems": []any{}}
	if itemID := readItemID(); itemID != "" {
		out["commands"] = []any{map[string]any{
			"command": "item-update",
			"itemId":  itemID,
			"actions": []any{
				map[string]any{"action": "add-tags", "tags": []string{"greeted"}},
				map[string]any{"action": "add-notes", "notes": fmt.Sprintf("%s (run %d)", greeting, runs)},
			},
		}}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail(err)
	}
}

// readItemID returns the id from ITEM_DATA_JSON (relative to the working
// directory, WORK), or "" when the run has no item.
func readItemID() string {
	p := os.Getenv("ITEM_DATA_JSON")
	if p == "" {
		return ""
	}
	b, err := os.ReadFile(p)
	if err != nil {
		fail(err)
	}
	var item struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &item); err != nil {
		fail(fmt.Errorf("%s: %w", p, err))
	}
	return item.ID
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "hello-wasm:", err)
	os.Exit(1)
}
