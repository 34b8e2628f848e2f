package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"unicode"

	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/store"
)

// codeIdempotencyReused is the error code of an Idempotency-Key sent
// again with a different event.
const codeIdempotencyReused = "idempotency_key_reused"

// maxIdemKey bounds an Idempotency-Key (a UUID is 36 characters).
const maxIdemKey = 255

// idemKey returns the request's Idempotency-Key header (the IETF
// httpapi draft's name), empty when there is none, or an error when it
// is not 1 to 255 printable ASCII characters.
func idemKey(r *http.Request) (string, error) {
	vs := r.Header.Values("Idempotency-Key")
	if len(vs) == 0 {
		return "", nil
	}
	k := vs[0]
	if len(vs) > 1 || k == "" || len(k) > maxIdemKey {
		return "", errf(http.StatusBadRequest, codeInvalid, "Idempotency-Key: want one header of 1 to %d printable ASCII characters", maxIdemKey)
	}
	for _, c := range k {
		if c > unicode.MaxASCII || !unicode.IsPrint(c) {
			return "", errf(http.StatusBadRequest, codeInvalid, "Idempotency-Key: want printable ASCII characters only")
		}
	}
	return k, nil
}

// eventFingerprint hashes what makes an event the same event: its
// trigger, item, itemArgs, its files' descriptions and their contents
// (not the multipart boundary, which differs on every send, nor env:
// secrets are not hashed into the database, and a host may renew a
// session between sends).
func eventFingerprint(ev eventRequest, inputDir string, pdfs, originals []executor.ItemFile) (string, error) {
	h := sha256.New()
	compact := func(raw json.RawMessage) string {
		var v any
		if raw == nil || json.Unmarshal(raw, &v) != nil {
			return string(raw)
		}
		b, _ := json.Marshal(v) // sorted keys, no spaces
		return string(b)
	}
	head, _ := json.Marshal(map[string]any{
		"trigger": ev.Trigger, "item": compact(ev.Item), "itemArgs": compact(ev.ItemArgs),
		"pdfs": pdfs, "originals": originals,
	})
	h.Write(head)
	for _, f := range append(append([]executor.ItemFile{}, pdfs...), originals...) {
		fh, err := os.Open(filepath.Join(inputDir, filepath.FromSlash(f.Path)))
		if err != nil {
			return "", fmt.Errorf("hashing the event's file %s: %w", f.Path, err)
		}
		fmt.Fprintf(h, "\x00%s\x00", f.Path)
		_, err = io.Copy(h, fh)
		fh.Close()
		if err != nil {
			return "", fmt.Errorf("hashing the event's file %s: %w", f.Path, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// replayEvent answers a request whose key is stored: with the runs
// the first request queued (those retention has not removed yet), or
// 422 when the key came with another event. It returns false when the
// key is not stored (within the window).
func (s *Server) replayEvent(ctx context.Context, w http.ResponseWriter, key, fingerprint string) (bool, error) {
	k, err := s.st.GetIdemKey(ctx, nil, key, s.set.IdempotencyWindow.Std())
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if k.Fingerprint != fingerprint {
		return true, errf(http.StatusUnprocessableEntity, codeIdempotencyReused,
			"Idempotency-Key %q was sent at %s with a different event (trigger, item, itemArgs or files differ); send a new key with a new event",
			key, k.Created.Format("2006-01-02T15:04:05Z07:00"))
	}
	runs := []runView{}
	for _, id := range k.RunIDs {
		run, err := s.st.GetRun(ctx, nil, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // removed by serve.retention
		}
		if err != nil {
			return true, err
		}
		runs = append(runs, s.viewRun(run, false))
	}
	w.Header().Set("Idempotent-Replayed", "true")
	writeJSON(w, http.StatusAccepted, map[string]any{"runs": runs})
	return true, nil
}

// sweepIdemKeys removes the keys older than the window.
func (s *Server) sweepIdemKeys(ctx context.Context) error {
	_, err := s.st.DeleteExpiredIdemKeys(ctx, nil, s.set.IdempotencyWindow.Std())
	return err
}
