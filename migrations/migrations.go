package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Schema is the PostgreSQL schema that holds every invitegate table and view.
const Schema = "invitegate"

// VersionTable is goose's table of applied migrations.
const VersionTable = Schema + ".goose_db_version"

//go:embed *.sql
var files embed.FS

// Report is the printable outcome of Up, Down or Status: one line per
// migration. Its String form ends with a newline unless it is empty.
type Report []string

func (r Report) String() string {
	if len(r) == 0 {
		return ""
	}
	return strings.Join(r, "\n") + "\n"
}

// Up applies every pending migration to the database at dsn.
func Up(ctx context.Context, dsn string) (Report, error) {
	var report Report
	err := withProvider(ctx, dsn, func(p *goose.Provider) error {
		results, err := p.Up(ctx)
		report = resultLines(results)
		if err != nil {
			return fmt.Errorf("migrate up: %w", err)
		}
		if len(results) == 0 {
			report = Report{"no migrations to apply"}
		}
		return nil
	})
	return report, err
}

// Down rolls back the most recently applied migration.
func Down(ctx context.Context, dsn string) (Report, error) {
	var report Report
	err := withProvider(ctx, dsn, func(p *goose.Provider) error {
		result, err := p.Down(ctx)
		if result != nil {
			report = resultLines([]*goose.MigrationResult{result})
		}
		if errors.Is(err, goose.ErrNoNextVersion) {
			report = Report{"no migrations to roll back"}
			return nil
		}
		if err != nil {
			return fmt.Errorf("migrate down: %w", err)
		}
		return nil
	})
	return report, err
}

// Status lists every known migration with its state, e.g.
// "applied 2025-11-28T09:00:00Z 00001_events.sql" or "pending 00002_rollups.sql".
func Status(ctx context.Context, dsn string) (Report, error) {
	var report Report
	err := withProvider(ctx, dsn, func(p *goose.Provider) error {
		statuses, err := p.Status(ctx)
		if err != nil {
			return fmt.Errorf("migration status: %w", err)
		}
		for _, s := range statuses {
			line := fmt.Sprintf("%-7s %s", s.State, s.Source.Path)
			if s.State == goose.StateApplied {
				line = fmt.Sprintf("%-7s %s %s", s.State, s.AppliedAt.UTC().Format("2006-01-02T15:04:05Z"), s.Source.Path)
			}
			report = append(report, line)
		}
		return nil
	})
	return report, err
}

func resultLines(results []*goose.MigrationResult) Report {
	var r Report
	for _, res := range results {
		line := res.String()
		if res.Error != nil {
			line += ": " + res.Error.Error()
		}
		r = append(r, line)
	}
	return r
}

// withProvider opens dsn, makes sure the schema exists (goose's version
// table lives in it) and runs fn with a goose Provider over the embedded files.
func withProvider(ctx context.Context, dsn string, fn func(*goose.Provider) error) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	if err := createSchema(ctx, db); err != nil {
		return err
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, files,
		goose.WithTableName(VersionTable),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("migration provider: %w", err)
	}
	return fn(p)
}

func createSchema(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+Schema)
	var pgErr *pgconn.PgError
	// Two replicas creating the schema at once: the loser sees a unique
	// violation on pg_namespace even with IF NOT EXISTS; the schema exists.
	if errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "42P06") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create schema %s: %w", Schema, err)
	}
	return nil
}
