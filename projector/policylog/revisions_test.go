package policylog

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

type revRow struct {
	Revision     int64
	App, Kind    string
	Applied      bool
	RejectReason *string
	Problem      *string
	Author       string
	List         *string
	IDs          []string
	IDCount      int
	RollbackOf   *int64
	HasDocument  bool
}

func readRevisions(t testing.TB, pool *pgxpool.Pool) []revRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT revision, app, kind, applied, reject_reason, problem, author,
		list, ids, id_count, rollback_of, document IS NOT NULL FROM invitegate.policy_revisions ORDER BY revision`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (revRow, error) {
		var v revRow
		err := r.Scan(&v.Revision, &v.App, &v.Kind, &v.Applied, &v.RejectReason, &v.Problem, &v.Author,
			&v.List, &v.IDs, &v.IDCount, &v.RollbackOf, &v.HasDocument)
		return v, err
	})
	require.NoError(t, err)
	return out
}

func waitRows(t testing.TB, pool *pgxpool.Pool, n int) []revRow {
	t.Helper()
	var rows []revRow
	require.Eventually(t, func() bool { rows = readRevisions(t, pool); return len(rows) >= n }, 20*time.Second, 10*time.Millisecond)
	require.Len(t, rows, n)
	return rows
}

// TestRevisionWriter writes every event, applied or not, with the reason
// the replicas reject it; after a restart it judges list events against
// the document in force read back from the table; two writers at once
// write each row once.
func TestRevisionWriter(t *testing.T) {
	t.Parallel()
	b := setup(t, "app1", "app2")
	pool := newPool(t)
	ctx := context.Background()
	b.publishRaw(t, "app1", decider.ChangeListAdded, `{"kind":"list.added","list":"banned","ids":["early"]}`)
	b.publish(t, "app1", replaced(doc(t)))
	b.publish(t, "app1", listEvent(decider.ChangeListAdded, "banned", "u1", "u2"))
	b.publishRaw(t, "app2", decider.ChangeListRemoved, `{"kind":"list.removed","list":"banned","ids":["x"]}`)
	b.publishRaw(t, "app1", decider.ChangeReplaced, `{"kind":"replaced","document":{"apiVersion":"invitegate/v1","rules":[{"name":"x","reject":"nope"}]}}`)
	b.publishRaw(t, "app1", decider.ChangeListAdded, `{oops`)

	w := startWriter(t, b.js, pool)
	rows := waitRows(t, pool, 6)
	require.NoError(t, w.Stop(ctx))
	reasons := []string{decider.RejectNoPolicy, "", "", decider.RejectNoPolicy, decider.RejectInvalidPolicy, decider.RejectMalformed}
	for i, r := range rows {
		require.Equal(t, int64(i+1), r.Revision)
		require.Equal(t, reasons[i] == "", r.Applied, "row %d", i)
		if reasons[i] != "" {
			require.Equal(t, reasons[i], *r.RejectReason, "row %d", i)
			require.NotEmpty(t, *r.Problem)
		}
	}
	require.Equal(t, "app2", rows[3].App)
	require.True(t, rows[1].HasDocument)
	require.Equal(t, "alice", rows[1].Author)
	require.Equal(t, []string{"u1", "u2"}, rows[2].IDs)
	require.Equal(t, 2, rows[2].IDCount)
	require.Equal(t, "banned", *rows[2].List)

	// After a restart the document in force comes from the table: a list
	// event for a list it lacks is rejected, one for its list applied.
	b.publish(t, "app1", &decider.Change{Kind: decider.ChangeReplaced, Document: doc(t), RollbackOf: 2})
	b.publishRaw(t, "app1", decider.ChangeListAdded, `{"kind":"list.added","list":"ghost","ids":["x"]}`)
	b.publish(t, "app1", listEvent(decider.ChangeListRemoved, "banned", "u1"))
	startWriter(t, b.js, pool)
	startWriter(t, b.js, pool)
	rows = waitRows(t, pool, 9)
	require.Equal(t, int64(2), *rows[6].RollbackOf)
	require.False(t, rows[7].Applied)
	require.Equal(t, decider.RejectUnknownList, *rows[7].RejectReason)
	require.True(t, rows[8].Applied)
}
