package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Dialect names the database behind a DB.
type Dialect string

// The supported databases.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Querier runs SQL written with PostgreSQL's $1 placeholders on either
// database; a DB and a transaction are both Queriers.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// Rows is the common part of *sql.Rows and pgx.Rows.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// DB is an open database. Exactly one of SQL and Pool is set: SQL for
// SQLite, Pool for PostgreSQL; the job queue drives them directly.
type DB struct {
	Dialect Dialect
	SQL     *sql.DB
	Pool    *pgxpool.Pool
	// File is the SQLite database file.
	File string
	lock *os.File
	// stmts caches prepared statements by query text (SQLite only):
	// modernc parses every unprepared query, which costs more than
	// running it.
	stmts sync.Map
}

// stmt returns a prepared statement for q, or nil when q should not be
// prepared (several statements, as migrations have). Inside a
// transaction (cachedOnly) it cannot prepare: the transaction holds
// SQLite's only connection.
func (d *DB) stmt(ctx context.Context, q string, cachedOnly bool) *sql.Stmt {
	if strings.Contains(q, ";") {
		return nil
	}
	if s, ok := d.stmts.Load(q); ok {
		return s.(*sql.Stmt)
	}
	if cachedOnly {
		return nil
	}
	s, err := d.SQL.PrepareContext(ctx, q)
	if err != nil {
		return nil // the unprepared path reports the error
	}
	if prev, loaded := d.stmts.LoadOrStore(q, s); loaded {
		s.Close()
		return prev.(*sql.Stmt)
	}
	return s
}

// lockFile takes an exclusive lock that lives as long as the process:
// two daemons on one SQLite file would each think the other's running
// jobs were orphaned.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	// A berth that was just killed releases the lock as its process ends;
	// give a restart racing with that a moment before refusing.
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("%w: %s is locked by another berth serve (use PostgreSQL for several nodes)", ErrLocked, path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ErrLocked is returned when another process holds the SQLite database.
var ErrLocked = errors.New("database in use")

// Open opens the database named by url: empty means SQLite in
// dataDir/berth.db, a postgres:// or postgresql:// URL means PostgreSQL,
// and sqlite:PATH (or file:PATH) names a SQLite file.
func Open(ctx context.Context, url, dataDir string) (*DB, error) {
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			return nil, fmt.Errorf("database-url: %w", redact(err, url))
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("connecting to PostgreSQL: %w", redact(err, url))
		}
		if err := pool.Ping(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("connecting to PostgreSQL at %s: %w", cfg.ConnConfig.Host, err)
		}
		return &DB{Dialect: Postgres, Pool: pool}, nil
	case url == "", strings.HasPrefix(url, "sqlite:"), strings.HasPrefix(url, "file:"):
		file := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "file:")
		if file == "" {
			file = filepath.Join(dataDir, "berth.db")
		}
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			return nil, fmt.Errorf("creating the database directory: %w", err)
		}
		dsn := "file:" + file + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_txlock=immediate"
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", file, err)
		}
		// SQLite allows one writer; one connection avoids SQLITE_BUSY.
		db.SetMaxOpenConns(1)
		lock, err := lockFile(file + ".lock")
		if err != nil {
			db.Close()
			return nil, err
		}
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("opening %s: %w", file, err)
		}
		return &DB{Dialect: SQLite, SQL: db, File: file, lock: lock}, nil
	}
	return nil, fmt.Errorf("database-url: unsupported scheme (want postgres://… or sqlite:PATH)")
}

// redact removes the URL (which may hold a password) from err's text.
func redact(err error, url string) error {
	msg := strings.ReplaceAll(err.Error(), url, "<database-url>")
	return errors.New(msg)
}

// Close closes the database.
func (d *DB) Close() {
	if d.Pool != nil {
		d.Pool.Close()
	}
	if d.SQL != nil {
		d.stmts.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
		d.SQL.Close()
	}
	if d.lock != nil {
		d.lock.Close()
	}
}

var placeholder = regexp.MustCompile(`\$(\d+)`)

func (d *DB) rebind(q string) string {
	if d.Dialect == SQLite {
		return placeholder.ReplaceAllString(q, "?$1")
	}
	return q
}

// Exec implements Querier.
func (d *DB) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	if d.Pool != nil {
		tag, err := d.Pool.Exec(ctx, q, args...)
		return tag.RowsAffected(), err
	}
	q = d.rebind(q)
	var res sql.Result
	var err error
	if st := d.stmt(ctx, q, false); st != nil {
		res, err = st.ExecContext(ctx, args...)
	} else {
		res, err = d.SQL.ExecContext(ctx, q, args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Query implements Querier.
func (d *DB) Query(ctx context.Context, q string, args ...any) (Rows, error) {
	if d.Pool != nil {
		rows, err := d.Pool.Query(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		return pgxRows{rows}, nil
	}
	q = d.rebind(q)
	var rows *sql.Rows
	var err error
	if st := d.stmt(ctx, q, false); st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = d.SQL.QueryContext(ctx, q, args...)
	}
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

type pgxRows struct{ pgx.Rows }

func (r pgxRows) Scan(dest ...any) error { return r.Rows.Scan(dest...) }

// Tx is a transaction. Raw is the driver's own transaction (*sql.Tx or
// pgx.Tx) for the job queue to insert jobs in the same transaction.
type Tx struct {
	db  *DB
	sql *sql.Tx
	pgx pgx.Tx
}

// Raw returns *sql.Tx for SQLite and pgx.Tx for PostgreSQL.
func (t *Tx) Raw() any {
	if t.pgx != nil {
		return t.pgx
	}
	return t.sql
}

// Exec implements Querier.
func (t *Tx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	if t.pgx != nil {
		tag, err := t.pgx.Exec(ctx, q, args...)
		return tag.RowsAffected(), err
	}
	q = t.db.rebind(q)
	var res sql.Result
	var err error
	if st := t.db.stmt(ctx, q, true); st != nil {
		res, err = t.sql.StmtContext(ctx, st).ExecContext(ctx, args...)
	} else {
		res, err = t.sql.ExecContext(ctx, q, args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Query implements Querier.
func (t *Tx) Query(ctx context.Context, q string, args ...any) (Rows, error) {
	if t.pgx != nil {
		rows, err := t.pgx.Query(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		return pgxRows{rows}, nil
	}
	q = t.db.rebind(q)
	var rows *sql.Rows
	var err error
	if st := t.db.stmt(ctx, q, true); st != nil {
		rows, err = t.sql.StmtContext(ctx, st).QueryContext(ctx, args...)
	} else {
		rows, err = t.sql.QueryContext(ctx, q, args...)
	}
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

// InTx runs fn in a transaction, committing when fn returns nil.
func (d *DB) InTx(ctx context.Context, fn func(*Tx) error) error {
	tx := &Tx{db: d}
	var err error
	if d.Pool != nil {
		tx.pgx, err = d.Pool.Begin(ctx)
	} else {
		tx.sql, err = d.SQL.BeginTx(ctx, nil)
	}
	if err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		if tx.pgx != nil {
			_ = tx.pgx.Rollback(context.WithoutCancel(ctx))
		} else {
			_ = tx.sql.Rollback()
		}
		return err
	}
	if tx.pgx != nil {
		err = tx.pgx.Commit(ctx)
	} else {
		err = tx.sql.Commit()
	}
	if err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// isUniqueViolation reports a primary-key or unique conflict.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
