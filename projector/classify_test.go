package projector

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

func TestIsDataError(t *testing.T) {
	t.Parallel()
	for code, data := range map[string]bool{
		"22P02": true,  // invalid text representation
		"23514": true,  // check violation
		"54000": true,  // index row too large
		"40P01": false, // deadlock: retried in-process
		"40001": false, // serialization failure
		"08006": false, // connection failure
		"57P01": false, // admin shutdown
		"42P01": false, // undefined table: migrations missing, not the data's fault
		"53300": false, // too many connections
	} {
		err := fmt.Errorf("insert: %w", &pgconn.PgError{Code: code})
		require.Equal(t, data, isDataError(err), code)
	}
	require.False(t, isDataError(io.EOF))
	require.False(t, isDataError(context.DeadlineExceeded))
}

func TestBackOff(t *testing.T) {
	t.Parallel()
	cfg := Config{BackOff: []time.Duration{time.Second, 5 * time.Second}}.withDefaults()
	require.Equal(t, time.Second, cfg.backOff(0))
	require.Equal(t, time.Second, cfg.backOff(1))
	require.Equal(t, 5*time.Second, cfg.backOff(2))
	require.Equal(t, 5*time.Second, cfg.backOff(9))
}
