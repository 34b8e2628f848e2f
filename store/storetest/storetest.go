// Package storetest gives tests a fresh PostgreSQL database. It must only
// be imported by tests.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultDSN is used when BERTH_TEST_POSTGRES_DSN is unset; .ci/daemon-setup.sh
// creates its role and database.
const DefaultDSN = "postgres://berth:berth@127.0.0.1:5432/berth_test?sslmode=disable"

// DSN returns BERTH_TEST_POSTGRES_DSN or DefaultDSN.
func DSN() string {
	if v := os.Getenv("BERTH_TEST_POSTGRES_DSN"); v != "" {
		return v
	}
	return DefaultDSN
}

// Postgres creates an empty database for the test, dropped at cleanup,
// and returns its URL. It skips only when PostgreSQL is not installed.
func Postgres(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, DSN())
	if err != nil {
		if _, lerr := exec.LookPath("pg_ctlcluster"); lerr != nil {
			if _, lerr := exec.LookPath("postgres"); lerr != nil {
				t.Skip("PostgreSQL is not installed (CI installs it: .ci/daemon-setup.sh)")
			}
		}
		t.Fatalf("PostgreSQL is installed but %s does not answer: %v (run .ci/daemon-setup.sh)", redacted(DSN()), err)
	}
	defer admin.Close(context.Background())
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "berth_t_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, DSN())
		if err != nil {
			t.Logf("dropping %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("dropping %s: %v", name, err)
		}
	})
	u, err := url.Parse(DSN())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func redacted(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "the test DSN"
	}
	return u.Redacted()
}
