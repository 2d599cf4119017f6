package projector_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/projector"
)

func TestAnalystQueries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, _ = b.worker(t, b.cfg, b.js, b.pool)
	b.publish(t, invites(100), 10)
	waitRows(t, b.pool, "invite_events", 100)

	qs := projector.AnalystQueries()
	var names []string
	for _, q := range qs {
		names = append(names, q.Name)
		require.NotEmpty(t, q.Doc, q.Name)
		require.NotContains(t, q.SQL, "-- name:", q.Name)
		rows, err := b.pool.Query(context.Background(), q.SQL)
		require.NoError(t, err, q.Name)
		rows.Close()
		require.NoError(t, rows.Err(), q.Name)
	}
	require.Equal(t, []string{"last-day-by-hour", "thirty-days-by-day", "top-inviters", "refusals-by-rule"}, names)

	var requests int
	require.NoError(t, b.pool.QueryRow(context.Background(),
		"SELECT sum(requests)::int FROM ("+qs[1].SQL+") q").Scan(&requests))
	require.Equal(t, 100, requests, "every test event is within the last 30 days")
}
