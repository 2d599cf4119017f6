package policylog

import (
	"context"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/policystore"
)

func startWriterWith(t testing.TB, b *bundle, pool *pgxpool.Pool, cfg Config) *RevisionWriter {
	t.Helper()
	cfg.RetryWait = 20 * time.Millisecond
	w, err := NewRevisionWriter(cfg, b.js, pool, discard(), prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, w.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, w.Stop(context.Background())) })
	return w
}

// TestAuditStoresWhatPostgresRefuses: NUL in author, reason, ids and the
// document, mojibake and escapes are stored (NUL as the text \u0000, noted
// in stored_note) and never block the next event; a restarted writer and
// compactor follow afterwards.
func TestAuditStoresWhatPostgresRefuses(t *testing.T) {
	t.Parallel()
	b := setup(t, "app1")
	pool := newPool(t)
	ctx := context.Background()
	b.publishRaw(t, "app1", decider.ChangeReplaced, `{"kind":"replaced","author":"a\u0000b","reason":"\u0000","document":{"apiVersion":"invitegate\/v1",
"lists":{"banned":[]},"rules":[{"name":"r","reject":"operator in lists.banned","error_code":10101,"error_info":"can\u00e2\u0080\u0099t \u0000 \ud83d\ude00"}]}}`)
	b.publishRaw(t, "app1", decider.ChangeListAdded, `{"kind":"list.added","author":"\u0000","list":"banned","ids":["x"]}`)
	b.publishRaw(t, "app1", decider.ChangeListAdded, `{"kind":"list.added","list":"banned","ids":["bad\u0000id"]}`)
	b.publishRaw(t, "app1", decider.ChangeListAdded, "{\"kind\":\"list.added\",\"list\":\"banned\",\"ids\":[\"\xff\"]}")
	huge := make([]byte, 3000) // an app token no index row holds (random: it does not compress)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range huge {
		huge[i] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[rnd.IntN(62)]
	}
	b.publishRaw(t, string(huge), decider.ChangeListAdded, `{"kind":"list.added","list":"banned","ids":["x"]}`)
	last := b.publish(t, "app1", listEvent(decider.ChangeListAdded, "banned", "after"))

	w := startWriter(t, b.js, pool)
	c := startCompactor(t, b.js, Config{CompactEvery: 1, CompactInterval: 10 * time.Millisecond})
	rows := waitRows(t, pool, 6)
	require.Equal(t, []bool{true, true, false, false, false, true}, []bool{rows[0].Applied, rows[1].Applied, rows[2].Applied, rows[3].Applied, rows[4].Applied, rows[5].Applied})
	require.Len(t, rows[4].App, 200, "the row an index refused is stored alone, cut")
	var bareNote string
	require.NoError(t, pool.QueryRow(ctx, `SELECT stored_note FROM invitegate.policy_revisions WHERE revision = 5`).Scan(&bareNote))
	require.Contains(t, bareNote, "without its payload")
	require.Equal(t, `a\u0000b`, rows[0].Author)
	require.True(t, rows[0].HasDocument)
	var note, errorInfo string
	require.NoError(t, pool.QueryRow(ctx, `SELECT stored_note, document->'rules'->0->>'error_info' FROM invitegate.policy_revisions WHERE revision = 1`).Scan(&note, &errorInfo))
	require.Contains(t, note, "author")
	require.Contains(t, note, "document")
	require.Equal(t, "can\u00e2\u0080\u0099t \\u0000 \U0001F600", errorInfo)
	require.Equal(t, []string{`bad\u0000id`}, rows[2].IDs)
	waitCompacted(t, c, last)
	require.NoError(t, w.Stop(ctx))
	require.NoError(t, c.Stop(ctx))

	// Restarted, both follow the events after the poison.
	more := b.publish(t, "app1", listEvent(decider.ChangeListAdded, "banned", "more"))
	startWriter(t, b.js, pool)
	c2 := startCompactor(t, b.js, Config{CompactEvery: 1, CompactInterval: 10 * time.Millisecond})
	waitRows(t, pool, 7)
	waitCompacted(t, c2, more)
	snap, _, err := policystore.LoadSnapshot(ctx, b.logs["app1"].Stores(), "app1", 0, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"after", "more", "x"}, snap.ListEntries("banned"))
}

// TestAuditAndCompactionWithTrust: with trust, the writer marks unsigned
// events rejected (reason unsigned) and records the key of signed ones as
// author and key_id; the compactor folds only signed events and signs its
// snapshots, which a reader with the same trust accepts.
func TestAuditAndCompactionWithTrust(t *testing.T) {
	t.Parallel()
	b := setup(t, "app1")
	pool := newPool(t)
	ctx := context.Background()
	admin, err := decider.GenerateSigningKey()
	require.NoError(t, err)
	compactorKey, err := decider.GenerateSigningKey()
	require.NoError(t, err)
	trust, err := decider.ParseTrust([]byte(decider.AuthorizedKey(admin.Public(), "admin")+"\nsnapshots "+
		decider.AuthorizedKey(compactorKey.Public(), "compactor")), "test")
	require.NoError(t, err)
	signed := b.logs["app1"].WithSigner(admin)
	_, err = signed.Publish(ctx, replaced(doc(t)))
	require.NoError(t, err)
	b.publish(t, "app1", listEvent(decider.ChangeListAdded, "banned", "unsigned"))
	last, err := signed.Publish(ctx, listEvent(decider.ChangeListAdded, "banned", "signed"))
	require.NoError(t, err)

	startWriterWith(t, b, pool, Config{Trust: trust})
	c := startCompactor(t, b.js, Config{CompactEvery: 1, CompactInterval: 10 * time.Millisecond, Trust: trust, SnapshotKey: compactorKey})
	rows := waitRows(t, pool, 3)
	require.True(t, rows[0].Applied)
	require.Equal(t, "admin "+admin.ID(), rows[0].Author)
	require.False(t, rows[1].Applied)
	require.Equal(t, decider.RejectUnsigned, *rows[1].RejectReason)
	var keyID string
	require.NoError(t, pool.QueryRow(ctx, `SELECT key_id FROM invitegate.policy_revisions WHERE revision = 3`).Scan(&keyID))
	require.Equal(t, admin.ID(), keyID)

	waitCompacted(t, c, last)
	snap, _, err := policystore.LoadSnapshot(ctx, b.logs["app1"].Stores(), "app1", 0, trust)
	require.NoError(t, err, "signed by the compactor's key")
	require.Equal(t, []string{"signed"}, snap.ListEntries("banned"))
	_, err = NewCompactor(Config{Trust: trust, SnapshotKey: admin}, b.js, discard(), prometheus.NewRegistry())
	require.ErrorContains(t, err, "not in the trust as a snapshots key")
	require.True(t, strings.HasPrefix(keyID, "SHA256:"))
}

// TestCompactorRebuildsWhenTheTrustChanges: after the trust changes (a key
// revoked), the compactor's own snapshots no longer match it; it folds the
// log again from the start under the new trust and signs new snapshots,
// which readers with that trust load.
func TestCompactorRebuildsWhenTheTrustChanges(t *testing.T) {
	t.Parallel()
	b := setup(t, "app1")
	ctx := context.Background()
	oldKey, newKey, compactorKey := mustKey(t), mustKey(t), mustKey(t)
	snapLine := "snapshots " + decider.AuthorizedKey(compactorKey.Public(), "compactor")
	trust1 := mustTrust(t, decider.AuthorizedKey(oldKey.Public(), "old"), decider.AuthorizedKey(newKey.Public(), "new"), snapLine)
	_, err := b.logs["app1"].WithSigner(oldKey).Publish(ctx, replaced(doc(t)))
	require.NoError(t, err)
	r2, err := b.logs["app1"].WithSigner(oldKey).Publish(ctx, listEvent(decider.ChangeListAdded, "banned", "by-old"))
	require.NoError(t, err)
	r3, err := b.logs["app1"].WithSigner(oldKey).Publish(ctx, listEvent(decider.ChangeListAdded, "banned", "late-old"))
	require.NoError(t, err)
	c := startCompactor(t, b.js, Config{CompactEvery: 1, CompactInterval: 10 * time.Millisecond, Trust: trust1, SnapshotKey: compactorKey})
	waitCompacted(t, c, r3)
	require.NoError(t, c.Stop(ctx))

	// The old key is revoked after r2.
	trust2 := mustTrust(t, "until="+strconv.FormatUint(r2, 10)+" "+decider.AuthorizedKey(oldKey.Public(), "old"),
		decider.AuthorizedKey(newKey.Public(), "new"), snapLine)
	_, _, err = policystore.LoadSnapshot(ctx, b.logs["app1"].Stores(), "app1", 0, trust2)
	require.ErrorIs(t, err, policystore.ErrSnapshotRefused, "folded under the old trust")
	r4, err := b.logs["app1"].WithSigner(newKey).Publish(ctx, listEvent(decider.ChangeListAdded, "banned", "by-new"))
	require.NoError(t, err)
	c2 := startCompactor(t, b.js, Config{CompactEvery: 1, CompactInterval: 10 * time.Millisecond, Trust: trust2, SnapshotKey: compactorKey})
	waitCompacted(t, c2, r4)
	snap, pos, err := policystore.LoadSnapshot(ctx, b.logs["app1"].Stores(), "app1", 0, trust2)
	require.NoError(t, err)
	require.Equal(t, r4, pos)
	require.Equal(t, []string{"by-new", "by-old"}, snap.ListEntries("banned"), "the revoked key's later event is not in it")
}

func mustKey(t *testing.T) *decider.SigningKey {
	t.Helper()
	k, err := decider.GenerateSigningKey()
	require.NoError(t, err)
	return k
}

func mustTrust(t *testing.T, lines ...string) *decider.Trust {
	t.Helper()
	tr, err := decider.ParseTrust([]byte(strings.Join(lines, "\n")), "test")
	require.NoError(t, err)
	return tr
}

// TestCompactorReplacesRefusedSnapshots: a compacted snapshot the replicas
// refuse (signed by an untrusted key, or not signed) is deleted and written
// anew without waiting for the next policy change: found at start, and
// found while the compactor runs; an app that has only a forged snapshot
// and no events is left with none.
func TestCompactorReplacesRefusedSnapshots(t *testing.T) {
	t.Parallel()
	b := setup(t, "app1")
	ctx := context.Background()
	admin, compactorKey, mallory := mustKey(t), mustKey(t), mustKey(t)
	trust := mustTrust(t, decider.AuthorizedKey(admin.Public(), "admin"),
		"snapshots "+decider.AuthorizedKey(compactorKey.Public(), "compactor"))
	signed := b.logs["app1"].WithSigner(admin)
	_, err := signed.Publish(ctx, replaced(doc(t)))
	require.NoError(t, err)
	last, err := signed.Publish(ctx, listEvent(decider.ChangeListAdded, "banned", "genuine"))
	require.NoError(t, err)
	obs := b.logs["app1"].Stores().Snapshots

	forge := func() {
		t.Helper()
		f := decider.NewFold(nil, 0)
		_, err := f.ApplyEvent(decider.ChangeReplaced, mustJSON(t, replaced(doc(t))), 1)
		require.NoError(t, err)
		_, err = f.ApplyEvent(decider.ChangeListAdded, mustJSON(t, listEvent(decider.ChangeListAdded, "banned", "victim")), last)
		require.NoError(t, err)
		require.NoError(t, policystore.SaveSnapshot(ctx, obs, "app1", f.Snapshot(), last,
			policystore.SnapshotSeal{Key: mallory, Trust: trust.Fingerprint("app1")}))
		_, _, err = policystore.LoadSnapshot(ctx, b.logs["app1"].Stores(), "app1", 0, trust)
		require.ErrorIs(t, err, policystore.ErrSnapshotRefused)
	}
	genuine := func() bool {
		snap, _, err := policystore.LoadSnapshot(ctx, b.logs["app1"].Stores(), "app1", 0, trust)
		return err == nil && snap != nil && slices.Equal(snap.ListEntries("banned"), []string{"genuine"})
	}
	forge()
	ghost := b.fullFold(t, "app1").Snapshot()
	require.NoError(t, policystore.SaveSnapshot(ctx, obs, "ghost", ghost, last, policystore.SnapshotSeal{}))

	c := startCompactor(t, b.js, Config{CompactEvery: 1, CompactInterval: 10 * time.Millisecond, CheckInterval: 20 * time.Millisecond,
		Trust: trust, SnapshotKey: compactorKey})
	require.Eventually(t, genuine, 20*time.Second, 10*time.Millisecond, "the forged snapshot found at start is replaced")
	apps, err := policystore.SnapshotApps(ctx, obs)
	require.NoError(t, err)
	require.Equal(t, []string{"app1"}, slices.Collect(maps.Keys(apps)), "the snapshot of an app without events is deleted")
	require.Equal(t, 2.0, testutil.ToFloat64(c.m.refused))

	forge()
	require.Eventually(t, genuine, 20*time.Second, 10*time.Millisecond, "a snapshot forged while the compactor runs is replaced")
	require.Equal(t, 3.0, testutil.ToFloat64(c.m.refused))
}

func mustJSON(t *testing.T, c *decider.Change) []byte {
	t.Helper()
	data, err := c.Marshal()
	require.NoError(t, err)
	return data
}
