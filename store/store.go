package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotFound is returned when a record does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a record with the same id exists, or a
// conditional update found the record in another state.
var ErrConflict = errors.New("conflict")

// Store reads and writes berth's records.
type Store struct {
	db *DB
}

// New returns a Store on db; call Migrate before use.
func New(db *DB) *Store { return &Store{db: db} }

// DB returns the database the store uses.
func (s *Store) DB() *DB { return s.db }

// Q returns q, or the store's database when q is nil.
func (s *Store) q(q Querier) Querier {
	if q == nil {
		return s.db
	}
	return q
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Addon is an installed addon.
type Addon struct {
	ID, Name, Version string
	// Source is where it came from: a URL, a path or "upload".
	Source string
	// Hash is the content hash of its files. Package is the blob of
	// their archive (PutBlob); Dir, of addons installed before packages
	// were blobs, is where the installing node kept them.
	Hash, Dir string
	Package   string
	Pure      bool
	// Info is the descriptor summary as JSON (the server's shape).
	Info             []byte
	Created, Updated time.Time
}

const addonCols = `id, name, version, source, hash, dir, pure, info, created_ms, updated_ms, package`

func scanAddon(r Rows) (Addon, error) {
	var a Addon
	var pure int
	var info string
	var c, u int64
	err := r.Scan(&a.ID, &a.Name, &a.Version, &a.Source, &a.Hash, &a.Dir, &pure, &info, &c, &u, &a.Package)
	a.Pure, a.Info, a.Created, a.Updated = pure != 0, []byte(info), fromMS(c), fromMS(u)
	return a, err
}

// PutAddon inserts a, or replaces the addon with the same id.
func (s *Store) PutAddon(ctx context.Context, q Querier, a Addon) error {
	_, err := s.q(q).Exec(ctx, `INSERT INTO berth_addons (`+addonCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)
		ON CONFLICT (id) DO UPDATE SET name=$2, version=$3, source=$4, hash=$5, dir=$6, pure=$7, info=$8, updated_ms=$10, package=$11`,
		a.ID, a.Name, a.Version, a.Source, a.Hash, a.Dir, b2i(a.Pure), string(a.Info), ms(a.Created), ms(a.Updated), a.Package)
	if err != nil {
		return fmt.Errorf("storing addon %s: %w", a.ID, err)
	}
	return nil
}

// GetAddon returns the addon with id.
func (s *Store) GetAddon(ctx context.Context, q Querier, id string) (Addon, error) {
	as, err := queryAll(ctx, s.q(q), scanAddon, `SELECT `+addonCols+` FROM berth_addons WHERE id = $1`, id)
	if err != nil {
		return Addon{}, err
	}
	if len(as) == 0 {
		return Addon{}, fmt.Errorf("addon %q: %w", id, ErrNotFound)
	}
	return as[0], nil
}

// ListAddons returns every addon, by name.
func (s *Store) ListAddons(ctx context.Context, q Querier) ([]Addon, error) {
	return queryAll(ctx, s.q(q), scanAddon, `SELECT `+addonCols+` FROM berth_addons ORDER BY name, version, id`)
}

// DeleteAddon removes the addon with id.
func (s *Store) DeleteAddon(ctx context.Context, q Querier, id string) error {
	n, err := s.q(q).Exec(ctx, `DELETE FROM berth_addons WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("addon %q: %w", id, ErrNotFound)
	}
	return nil
}

// RunConfig is a stored run configuration. Body is its JSON as the
// server shapes it; Name, Enabled, Triggers and Schedule are copied out
// for queries.
type RunConfig struct {
	ID, Name         string
	Enabled          bool
	Triggers         []string
	Schedule         string
	Body             []byte
	Created, Updated time.Time
}

const configCols = `id, name, enabled, triggers, schedule, body, created_ms, updated_ms`

func scanConfig(r Rows) (RunConfig, error) {
	var c RunConfig
	var enabled int
	var triggers, body string
	var cr, up int64
	err := r.Scan(&c.ID, &c.Name, &enabled, &triggers, &c.Schedule, &body, &cr, &up)
	c.Enabled, c.Body, c.Created, c.Updated = enabled != 0, []byte(body), fromMS(cr), fromMS(up)
	for _, t := range strings.Split(strings.Trim(triggers, ","), ",") {
		if t != "" {
			c.Triggers = append(c.Triggers, t)
		}
	}
	return c, err
}

// PutRunConfig inserts c, or replaces the configuration with the same id.
func (s *Store) PutRunConfig(ctx context.Context, q Querier, c RunConfig) error {
	triggers := "," + strings.Join(c.Triggers, ",") + ","
	_, err := s.q(q).Exec(ctx, `INSERT INTO berth_run_configs (`+configCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)
		ON CONFLICT (id) DO UPDATE SET name=$2, enabled=$3, triggers=$4, schedule=$5, body=$6, updated_ms=$8`,
		c.ID, c.Name, b2i(c.Enabled), triggers, c.Schedule, string(c.Body), ms(c.Created), ms(c.Updated))
	if err != nil {
		return fmt.Errorf("storing run configuration %s: %w", c.ID, err)
	}
	return nil
}

// GetRunConfig returns the configuration with id.
func (s *Store) GetRunConfig(ctx context.Context, q Querier, id string) (RunConfig, error) {
	cs, err := queryAll(ctx, s.q(q), scanConfig, `SELECT `+configCols+` FROM berth_run_configs WHERE id = $1`, id)
	if err != nil {
		return RunConfig{}, err
	}
	if len(cs) == 0 {
		return RunConfig{}, fmt.Errorf("run configuration %q: %w", id, ErrNotFound)
	}
	return cs[0], nil
}

// ListRunConfigs returns the configurations, by name; a non-empty
// trigger keeps only the enabled ones with that trigger.
func (s *Store) ListRunConfigs(ctx context.Context, q Querier, trigger string) ([]RunConfig, error) {
	if trigger != "" {
		return queryAll(ctx, s.q(q), scanConfig, `SELECT `+configCols+` FROM berth_run_configs
			WHERE enabled = 1 AND triggers LIKE $1 ORDER BY name, id`, "%,"+trigger+",%")
	}
	return queryAll(ctx, s.q(q), scanConfig, `SELECT `+configCols+` FROM berth_run_configs ORDER BY name, id`)
}

// DeleteRunConfig removes the configuration with id.
func (s *Store) DeleteRunConfig(ctx context.Context, q Querier, id string) error {
	n, err := s.q(q).Exec(ctx, `DELETE FROM berth_run_configs WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("run configuration %q: %w", id, ErrNotFound)
	}
	return nil
}

// ConfigsUsingAddon returns the ids of configurations whose body names
// the addon id.
func (s *Store) ConfigsUsingAddon(ctx context.Context, q Querier, addonID string) ([]string, error) {
	return queryAll(ctx, s.q(q), func(r Rows) (string, error) {
		var id string
		return id, r.Scan(&id)
	}, `SELECT id FROM berth_run_configs WHERE body LIKE $1 ORDER BY id`, `%"`+addonID+`"%`)
}

func queryAll[T any](ctx context.Context, q Querier, scan func(Rows) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
