package migrations

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// MaintenanceDatabase is the database EnsureDatabase and DropDatabase
// connect to when the target database does not exist or is to be dropped.
const MaintenanceDatabase = "postgres"

var (
	// ErrNoDatabaseName is returned when the URL names no database.
	ErrNoDatabaseName = errors.New("database url names no database")
	// ErrCreateDenied is returned when the database does not exist and the
	// user may not create it.
	ErrCreateDenied = errors.New("not allowed to create the database")
)

// PostgreSQL error codes this package tells apart.
const (
	codeInvalidCatalogName   = "3D000" // database does not exist
	codeDuplicateDatabase    = "42P04"
	codeInsufficientPrivlege = "42501"
)

// EnsureDatabase creates the database named in dsn unless it exists. It
// first connects to it; only if PostgreSQL answers that it does not exist
// does it connect to the maintenance database "postgres" with the same
// credentials and CREATE DATABASE. A concurrent creation by another replica
// counts as success. Errors name the database and the user, and wrap
// ErrCreateDenied when the user lacks the CREATEDB privilege.
func EnsureDatabase(ctx context.Context, dsn string) error {
	cfg, err := parse(dsn)
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return conn.Close(ctx)
	}
	if pgCode(err) != codeInvalidCatalogName {
		return fmt.Errorf("connect to database %q: %w", cfg.Database, err)
	}
	err = onMaintenance(ctx, cfg, "CREATE DATABASE "+pgx.Identifier{cfg.Database}.Sanitize())
	switch pgCode(err) {
	case "":
	case codeDuplicateDatabase:
		return nil
	case codeInsufficientPrivlege:
		return fmt.Errorf("database %q does not exist and user %q may not create it (grant CREATEDB or create it by hand): %w: %w",
			cfg.Database, cfg.User, ErrCreateDenied, err)
	}
	if err != nil {
		return fmt.Errorf("database %q does not exist; create it: %w", cfg.Database, err)
	}
	return nil
}

// DropDatabase drops the database named in dsn if it exists, closing other
// sessions connected to it (WITH (FORCE)). Tests and benchmarks use it to
// remove the databases they create.
func DropDatabase(ctx context.Context, dsn string) error {
	cfg, err := parse(dsn)
	if err != nil {
		return err
	}
	err = onMaintenance(ctx, cfg, "DROP DATABASE IF EXISTS "+pgx.Identifier{cfg.Database}.Sanitize()+" WITH (FORCE)")
	if err != nil {
		return fmt.Errorf("drop database %q: %w", cfg.Database, err)
	}
	return nil
}

func parse(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if cfg.Database == "" {
		return nil, ErrNoDatabaseName
	}
	return cfg, nil
}

// onMaintenance runs one statement on the maintenance database, connecting
// as cfg's user.
func onMaintenance(ctx context.Context, cfg *pgx.ConnConfig, stmt string) error {
	mcfg := cfg.Copy()
	mcfg.Database = MaintenanceDatabase
	conn, err := pgx.ConnectConfig(ctx, mcfg)
	if err != nil {
		return fmt.Errorf("connect to maintenance database %q: %w", MaintenanceDatabase, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, stmt)
	return err
}

// pgCode returns the SQLSTATE of a PostgreSQL error in err's chain, or "".
func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}
