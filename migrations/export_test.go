package migrations

import (
	"context"

	"github.com/pressly/goose/v3"
)

// UpTo applies the migrations up to version, for tests of a conversion.
func UpTo(ctx context.Context, dsn string, version int64) error {
	return withProvider(ctx, dsn, func(p *goose.Provider) error {
		_, err := p.UpTo(ctx, version)
		return err
	})
}
