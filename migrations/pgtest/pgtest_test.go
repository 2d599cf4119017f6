package pgtest_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/migrations"
	"github.com/invitegate/invitegate/migrations/pgtest"
)

// TestNewMigratedClones: concurrent tests get databases of their own, each
// with every migration applied, cloned from the one template.
func TestNewMigratedClones(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	dsns := make([]string, 4)
	for i := range dsns {
		wg.Go(func() { dsns[i] = pgtest.NewMigrated(t) })
	}
	wg.Wait()
	ctx := context.Background()
	seen := map[string]bool{}
	for _, dsn := range dsns {
		require.False(t, seen[dsn])
		seen[dsn] = true
		report, err := migrations.Status(ctx, dsn)
		require.NoError(t, err)
		require.NotEmpty(t, report)
		for _, line := range report {
			require.Contains(t, line, "applied", "every migration applied")
		}
	}
	conn, err := pgx.Connect(ctx, pgtest.URL(migrations.MaintenanceDatabase))
	require.NoError(t, err)
	defer conn.Close(ctx)
	var templates int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1 AND datistemplate",
		"invitegate_tmpl_"+migrations.Fingerprint()[:16]).Scan(&templates))
	require.Equal(t, 1, templates)
}

// TestURLHonoursTestDatabaseURL keeps the server, user and parameters of
// TEST_DATABASE_URL and replaces its database.
func TestURLHonoursTestDatabaseURL(t *testing.T) {
	t.Setenv(pgtest.EnvURL, "postgres://alice:secret@db.example:6543/whatever?sslmode=require&application_name=tests")
	require.Equal(t, "postgres://alice:secret@db.example:6543/invitegate_test_x?sslmode=require&application_name=tests",
		pgtest.URL("invitegate_test_x"))
	require.Equal(t, "postgres://bob@db.example:6543/d?sslmode=require&application_name=tests", pgtest.URLAs("bob", "d"))
	require.Equal(t, "db.example:6543", pgtest.Addr())
	t.Setenv(pgtest.EnvURL, "")
	require.Equal(t, "postgres://postgres@127.0.0.1:5432/d?sslmode=disable", pgtest.URL("d"))
	require.Equal(t, "127.0.0.1:5432", pgtest.Addr())
}
