package projector

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/invitegate/invitegate/migrations"
)

// NewPool returns a pool of at most cfg.PoolSize connections to
// cfg.DatabaseURL. It connects lazily: use Prepare before the first write.
func NewPool(cfg Config) (*pgxpool.Pool, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	pc.MaxConns = cfg.PoolSize
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, fmt.Errorf("database pool: %w", err)
	}
	return pool, nil
}

// Prepare creates cfg's database if it does not exist (and the user may),
// then applies pending migrations unless cfg.NoMigrate. It returns the
// migration report (empty with NoMigrate).
func Prepare(ctx context.Context, cfg Config) (migrations.Report, error) {
	cfg = cfg.withDefaults()
	if err := migrations.EnsureDatabase(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	if cfg.NoMigrate {
		return nil, nil
	}
	return migrations.Up(ctx, cfg.DatabaseURL)
}
