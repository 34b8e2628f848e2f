package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// IdemKey is a stored idempotency key of POST /v1/events: a hash of
// the request it came with and the runs that request created.
type IdemKey struct {
	Key         string
	Fingerprint string
	RunIDs      []string
	Created     time.Time
}

// GetIdemKey returns the key stored within the last window (by the
// database's clock), or ErrNotFound.
func (s *Store) GetIdemKey(ctx context.Context, q Querier, key string, window time.Duration) (IdemKey, error) {
	v, err := queryAll(ctx, s.q(q), func(r Rows) (IdemKey, error) {
		var k IdemKey
		var ids string
		var c int64
		err := r.Scan(&k.Key, &k.Fingerprint, &ids, &c)
		k.Created = fromMS(c)
		for _, id := range strings.Split(ids, ",") {
			if id != "" {
				k.RunIDs = append(k.RunIDs, id)
			}
		}
		return k, err
	}, `SELECT idem_key, fingerprint, run_ids, created_ms FROM berth_idempotency WHERE idem_key = $1 AND created_ms >= `+s.nowMS()+` - $2`,
		key, window.Milliseconds())
	if err != nil {
		return IdemKey{}, fmt.Errorf("reading idempotency key: %w", err)
	}
	if len(v) == 0 {
		return IdemKey{}, fmt.Errorf("idempotency key: %w", ErrNotFound)
	}
	return v[0], nil
}

// PutIdemKey stores k (call it in the transaction that stores its
// runs). A key stored within window already is ErrConflict: another
// request with it, maybe on another node, won; an older one is
// replaced.
func (s *Store) PutIdemKey(ctx context.Context, q Querier, k IdemKey, window time.Duration) error {
	if _, err := s.q(q).Exec(ctx, `DELETE FROM berth_idempotency WHERE idem_key = $1 AND created_ms < `+s.nowMS()+` - $2`, k.Key, window.Milliseconds()); err != nil {
		return fmt.Errorf("storing idempotency key: %w", err)
	}
	_, err := s.q(q).Exec(ctx, `INSERT INTO berth_idempotency (idem_key, fingerprint, run_ids, created_ms) VALUES ($1, $2, $3, `+s.nowMS()+`)`,
		k.Key, k.Fingerprint, strings.Join(k.RunIDs, ","))
	if isUniqueViolation(err) {
		return fmt.Errorf("idempotency key: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("storing idempotency key: %w", err)
	}
	return nil
}

// DeleteExpiredIdemKeys removes the keys older than window.
func (s *Store) DeleteExpiredIdemKeys(ctx context.Context, q Querier, window time.Duration) (int64, error) {
	n, err := s.q(q).Exec(ctx, `DELETE FROM berth_idempotency WHERE created_ms < `+s.nowMS()+` - $1`, window.Milliseconds())
	if err != nil {
		return 0, fmt.Errorf("removing expired idempotency keys: %w", err)
	}
	return n, nil
}
