package migrations_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/migrations"
	"github.com/invitegate/invitegate/migrations/pgtest"
)

func TestEnsureDatabaseCreatesOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.URL(pgtest.RandomName("invitegate_test_"))
	t.Cleanup(func() { require.NoError(t, migrations.DropDatabase(context.Background(), dsn)) })

	require.NoError(t, migrations.EnsureDatabase(ctx, dsn))
	require.NoError(t, migrations.EnsureDatabase(ctx, dsn), "an existing database is fine")
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))

	require.NoError(t, migrations.DropDatabase(ctx, dsn))
	_, err = pgx.Connect(ctx, dsn)
	require.ErrorContains(t, err, "does not exist")
	require.NoError(t, migrations.DropDatabase(ctx, dsn), "dropping a missing database is fine")
}

func TestEnsureDatabaseDenied(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	role := pgtest.RandomName("invitegate_nocreate_")
	admin, err := pgx.Connect(ctx, pgtest.URL("postgres"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, admin.Close(context.Background())) })
	_, err = admin.Exec(ctx, "CREATE ROLE "+role+" LOGIN NOCREATEDB")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := admin.Exec(context.Background(), "DROP ROLE "+role)
		require.NoError(t, err)
	})

	dsn := pgtest.URLAs(role, pgtest.RandomName("invitegate_test_"))
	err = migrations.EnsureDatabase(ctx, dsn)
	require.ErrorIs(t, err, migrations.ErrCreateDenied)
	require.ErrorContains(t, err, "may not create it")
	require.ErrorContains(t, err, role)
}

func TestEnsureDatabaseBadURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	err := migrations.EnsureDatabase(ctx, pgtest.URL(""))
	require.ErrorIs(t, err, migrations.ErrNoDatabaseName)
	err = migrations.EnsureDatabase(ctx, "postgres://%zz")
	require.ErrorContains(t, err, "parse database url")
	err = migrations.EnsureDatabase(ctx, "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2")
	require.ErrorContains(t, err, `connect to database "x"`)
	err = migrations.DropDatabase(ctx, "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2")
	require.ErrorContains(t, err, `drop database "x"`)
}
