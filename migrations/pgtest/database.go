package pgtest

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/invitegate/invitegate/migrations"
)

// codeObjectInUse is PostgreSQL's object_in_use: the template has a
// session (a CREATE DATABASE from it waits and tries again).
const codeObjectInUse = "55006"

// NewDatabase creates an empty database and drops it when tb ends. It
// returns the database's url.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	return create(tb, "")
}

// NewMigrated creates a database with every migration applied, a clone of
// the template database, and drops it when tb ends. It returns the
// database's url.
func NewMigrated(tb testing.TB) string {
	tb.Helper()
	tmpl, err := template()
	if err != nil {
		tb.Fatalf("template database: %v", err)
	}
	return create(tb, tmpl)
}

// create creates a database (from tmpl, when not "") and drops it at
// cleanup.
func create(tb testing.TB, tmpl string) string {
	tb.Helper()
	name := RandomName("invitegate_test_")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stmt := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if tmpl != "" {
		stmt += " TEMPLATE " + pgx.Identifier{tmpl}.Sanitize()
	}
	if err := onServer(ctx, func(conn *pgx.Conn) error { return execRetry(ctx, conn, stmt) }); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	dsn := URL(name)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := migrations.DropDatabase(ctx, dsn); err != nil {
			tb.Errorf("drop test database: %v", err)
		}
	})
	return dsn
}

// execRetry runs stmt, again while the template is in use by another
// session (its builder closing, or a client connecting to it by mistake).
func execRetry(ctx context.Context, conn *pgx.Conn, stmt string) error {
	for {
		_, err := conn.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != codeObjectInUse {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// template returns the name of the template database of this binary's
// migrations, building it the first time (once per test binary).
var template = sync.OnceValues(func() (string, error) {
	fp := migrations.Fingerprint()
	name := "invitegate_tmpl_" + fp[:16]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err := onServer(ctx, func(conn *pgx.Conn) error { return ensureTemplate(ctx, conn, name) })
	return name, err
})

// ensureTemplate builds template name unless it exists, holding an
// advisory lock named by it so that one binary builds it while the others
// wait. It is built under another name and renamed when complete, so a
// template that exists is whole, even after a run killed midway.
func ensureTemplate(ctx context.Context, conn *pgx.Conn, name string) error {
	h := fnv.New64a()
	h.Write([]byte(name))
	key := int64(h.Sum64())
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key) }()
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look for %s: %w", name, err)
	}
	if exists {
		return nil
	}
	building := name + "_building"
	dsn := URL(building)
	if err := migrations.DropDatabase(ctx, dsn); err != nil { // left by a killed run
		return err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{building}.Sanitize()); err != nil {
		return fmt.Errorf("create %s: %w", building, err)
	}
	if _, err := migrations.Up(ctx, dsn); err != nil {
		return fmt.Errorf("migrate %s: %w", building, err)
	}
	for _, stmt := range []string{
		"ALTER DATABASE " + pgx.Identifier{building}.Sanitize() + " RENAME TO " + pgx.Identifier{name}.Sanitize(),
		"ALTER DATABASE " + pgx.Identifier{name}.Sanitize() + " WITH IS_TEMPLATE true ALLOW_CONNECTIONS false",
	} {
		if err := execRetry(ctx, conn, stmt); err != nil {
			return fmt.Errorf("finish %s: %w", name, err)
		}
	}
	return nil
}

// onServer runs fn on a connection to the test server's maintenance
// database.
func onServer(ctx context.Context, fn func(*pgx.Conn) error) error {
	conn, err := pgx.Connect(ctx, URL(migrations.MaintenanceDatabase))
	if err != nil {
		return fmt.Errorf("connect to the test server: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return fn(conn)
}
