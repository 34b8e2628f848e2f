package crashtest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/store/storetest"
)

// hook is a webhook receiver that holds its first request open (until
// the sender dies) and answers 200 to later ones.
type hook struct {
	*httptest.Server
	mu       sync.Mutex
	attempts []string // X-Berth-Delivery-Attempt of each request
	first    chan struct{}
}

func newHook(t *testing.T) *hook {
	h := &hook{first: make(chan struct{})}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.attempts = append(h.attempts, r.Header.Get("X-Berth-Delivery-Attempt"))
		n := len(h.attempts)
		h.mu.Unlock()
		if n == 1 {
			// With the body read, the server notices the connection
			// closing when the sending node is killed.
			_, _ = io.Copy(io.Discard, r.Body)
			close(h.first)
			<-r.Context().Done()
			return
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) seen() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.attempts...)
}

// deliverThenKill queues a run with the hook as webhook on d, waits until
// its delivery is in flight and kills d.
func deliverThenKill(t *testing.T, d *daemon, h *hook) string {
	t.Helper()
	addon := d.install(fixture("sleep"))
	var r run
	d.call("POST", "/v1/runs", map[string]string{"addonId": addon, "args": "0", "webhook": h.URL}, &r)
	select {
	case <-h.first:
	case <-time.After(time.Minute):
		t.Fatal("the webhook got no delivery within a minute")
	}
	d.kill()
	return r.ID
}

func delivered(r run) bool { return r.Webhook == "delivered" }

func TestAWebhookDeliveryInFlightWhenItsNodeDiesIsMadeAgain(t *testing.T) {
	t.Run("by the same node after its restart (SQLite)", func(t *testing.T) {
		h := newHook(t)
		d := newDaemon(t, "solo", "")
		d.start()
		id := deliverThenKill(t, d, h)
		d.start()
		d.waitFor(id, "the webhook delivered", delivered)
		if got := h.seen(); len(got) != 2 || got[0] != "1" || got[1] != "1" {
			t.Fatalf("delivery attempts = %v, want the interrupted attempt 1 made again once", got)
		}
	})
	t.Run("by another node after node-timeout (PostgreSQL)", func(t *testing.T) {
		h := newHook(t)
		db := storetest.Postgres(t)
		n1 := newDaemon(t, "node-1", db)
		n1.start()
		n2 := newDaemon(t, "node-2", db)
		id := deliverThenKill(t, n1, h)
		n2.start()
		n2.waitFor(id, "the webhook delivered by node-2", delivered)
		if got := h.seen(); len(got) != 2 || got[1] != "1" {
			t.Fatalf("delivery attempts = %v, want the interrupted attempt 1 made again once", got)
		}
	})
}
