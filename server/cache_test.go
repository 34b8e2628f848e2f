package server_test

import (
	"strings"
	"testing"
)

// The issue: ad hoc runs (POST /v1/runs with an addon id) keyed CACHE_DIR
// by the addon's name, so another installed addon of the same name read
// what the first cached (an impure addon's token showed in a pure one's
// output). The cache is keyed by the installation's id now, which the
// daemon makes and an installer cannot choose.
func TestAnAddonOfTheSameNameCannotReadAnothersCache(t *testing.T) {
	n := startNode(t, nodeOpts{})
	writer, reader := n.install(fixture("cache-writer")), n.install(fixture("cache-reader"))
	if writer.Name != reader.Name {
		t.Fatalf("the fixtures' names differ: %q, %q", writer.Name, reader.Name)
	}
	adhoc := func(addonID, args string) runV {
		t.Helper()
		var r runV
		n.mustCall(202, "POST", "/v1/runs", map[string]any{"addonId": addonID, "args": args, "item": map[string]string{"id": "x"}}, &r)
		r = n.waitFinal(r.ID)
		if r.State != "succeeded" {
			t.Fatalf("run of %s = %+v", addonID, r)
		}
		return r
	}
	if out := string(adhoc(writer.ID, "token-of-the-impure-addon").Output); !strings.Contains(out, `"none"`) {
		t.Fatalf("the first run of the writer found a token cached: %s", out)
	}
	if out := string(adhoc(reader.ID, "").Output); strings.Contains(out, "token-of-the-impure-addon") || !strings.Contains(out, `"none"`) {
		t.Fatalf("the other addon named %q saw the first one's cache: output %s", reader.Name, out)
	}
	t.Run("an addon's own cache is kept between its ad hoc runs", func(t *testing.T) {
		if out := string(adhoc(writer.ID, "second").Output); !strings.Contains(out, "token-of-the-impure-addon") {
			t.Fatalf("the writer's second run did not find its first run's token: %s", out)
		}
	})
}
