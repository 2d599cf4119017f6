// Package pgtest gives tests and benchmarks a database of their own on the
// machine's PostgreSQL (127.0.0.1:5432, user postgres, trust auth): a
// database per test, named invitegate_test_<random>, dropped in Cleanup.
// The schema name "invitegate" is fixed, so a database (not a schema) is
// the unit of isolation.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/invitegate/invitegate/migrations"
)

// ServerURL is the PostgreSQL server tests use, without a database name.
const ServerURL = "postgres://postgres@127.0.0.1:5432/"

// URL returns the url of database name on the test server.
func URL(name string) string { return ServerURL + name + "?sslmode=disable" }

// RandomName returns prefix followed by 12 random hex digits.
func RandomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// NewDatabase creates an empty database and drops it when tb ends. It
// returns the database's url.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	dsn := URL(RandomName("invitegate_test_"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := migrations.EnsureDatabase(ctx, dsn); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := migrations.DropDatabase(ctx, dsn); err != nil {
			tb.Errorf("drop test database: %v", err)
		}
	})
	return dsn
}

// NewMigrated creates a database with every migration applied and drops it
// when tb ends. It returns the database's url.
func NewMigrated(tb testing.TB) string {
	tb.Helper()
	dsn := NewDatabase(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := migrations.Up(ctx, dsn); err != nil {
		tb.Fatalf("migrate test database: %v", err)
	}
	return dsn
}
