package migrations_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/migrations"
	"github.com/invitegate/invitegate/migrations/pgtest"
)

func relations(t *testing.T, dsn string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'invitegate' AND c.relkind IN ('r', 'v', 'p') AND NOT c.relispartition ORDER BY c.relname`)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

// sqlFiles returns the migration files, in order.
func sqlFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	slices.Sort(files)
	return files
}

func TestUpDownStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	files := sqlFiles(t)

	status, err := migrations.Status(ctx, dsn)
	require.NoError(t, err)
	var pending migrations.Report
	for _, f := range files {
		pending = append(pending, "pending "+f)
	}
	require.Equal(t, pending, status)

	up, err := migrations.Up(ctx, dsn)
	require.NoError(t, err)
	require.Len(t, up, len(files))
	require.Contains(t, up.String(), "OK    up 00001_events.sql")
	require.Equal(t, []string{
		"dead_letters", "goose_db_version", "group_sizes", "invite_events", "invite_members",
		"invite_rollup_hourly", "invite_rollup_operator_daily", "invite_rollup_rule_daily",
		"invite_trends_hourly", "membership_events", "partitions", "policy_revisions", "refusals_by_rule_daily", "stats_counters", "top_counters", "top_inviters_daily",
	}, relations(t, dsn))

	again, err := migrations.Up(ctx, dsn)
	require.NoError(t, err)
	require.Equal(t, migrations.Report{"no migrations to apply"}, again)

	status, err = migrations.Status(ctx, dsn)
	require.NoError(t, err)
	require.Len(t, status, len(files))
	for _, line := range status {
		require.True(t, strings.HasPrefix(line, "applied "), line)
	}

	for i := len(files) - 1; i >= 0; i-- { // one at a time, newest first
		down, err := migrations.Down(ctx, dsn)
		require.NoError(t, err)
		require.Len(t, down, 1)
		require.Contains(t, down[0], "down "+files[i])
	}
	require.Equal(t, []string{"goose_db_version"}, relations(t, dsn))

	none, err := migrations.Down(ctx, dsn)
	require.NoError(t, err)
	require.Equal(t, migrations.Report{"no migrations to roll back"}, none)
}

func TestUpConcurrentReplicas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := migrations.Up(ctx, dsn)
			errs <- err
		}()
	}
	for range 3 {
		require.NoError(t, <-errs)
	}
	status, err := migrations.Status(ctx, dsn)
	require.NoError(t, err)
	require.Len(t, status, len(sqlFiles(t)))
}

func TestUpUnreachable(t *testing.T) {
	t.Parallel()
	_, err := migrations.Up(context.Background(), "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2")
	require.ErrorContains(t, err, "create schema invitegate")
}

func TestReportString(t *testing.T) {
	t.Parallel()
	require.Equal(t, "", migrations.Report(nil).String())
	require.Equal(t, "a\nb\n", migrations.Report{"a", "b"}.String())
}
