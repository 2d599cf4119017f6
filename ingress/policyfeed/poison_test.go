package policyfeed

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/policystore"
)

// poisonPolicy is testPolicy written by clients that escape freely: the
// mojibake of a curly apostrophe (C1 controls once decoded), "\/", a
// surrogate-pair emoji (Python's default), and DEL.
const poisonPolicy = `{"kind":"replaced","author":"py\ud83d\ude00","reason":"r\u007f","document":{"apiVersion":"invitegate\/v1",
"lists":{"banned":[],"staff":["admin"]},
"rules":[{"name":"banned-operator","reject":"operator in lists.banned && !(operator in lists.staff)","error_code":10101,
"error_info":"You can\u00e2\u0080\u0099t invite users right now \ud83d\ude00 \uffff"},
{"name":"banned-member","refuse_member":"member in lists.banned"}]}}`

// TestNoEventBreaksTheLog publishes, with a plain NATS client, the events
// that once broke every restart (mojibake, "\/", surrogate pairs, NUL in
// author, reason and document) and a compacted snapshot of them: a running
// replica, a new one and a restarted one all follow, and a later event
// applies everywhere.
func TestNoEventBreaksTheLog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	dir := t.TempDir()
	running := newReplica(t, b.js, Config{DataDir: dir, ReplicaID: "running"})
	require.NoError(t, running.f.Start(ctx))

	poison := b.publishRaw(t, decider.ChangeReplaced, poisonPolicy)
	s := running.waitRevision(t, poison)
	require.Equal(t, "You can\u00e2\u0080\u0099t invite users right now \U0001F600 \uffff", s.Document().Rules[0].ErrorInfo)
	nul := b.publishRaw(t, decider.ChangeListAdded, `{"kind":"list.added","author":"a\u0000b","reason":"\u0000","list":"banned","ids":["x"]}`)
	running.waitRevision(t, nul)
	nulDoc := b.publishRaw(t, decider.ChangeReplaced, `{"kind":"replaced","reason":"nul","document":{"apiVersion":"invitegate/v1","lists":{"banned":[],"staff":[]},
"rules":[{"name":"banned-operator","reject":"operator in lists.banned || operator == 'a\u0000'","error_code":10101,"error_info":"a\u0000b"}]}}`)
	running.waitRevision(t, nulDoc)
	badID := b.publishRaw(t, decider.ChangeReplaced, `{"kind":"replaced","document":{"apiVersion":"invitegate/v1","lists":{"l":["ok","bad\nid"]},"rules":[]}}`)
	notUTF8 := b.publishRaw(t, decider.ChangeListAdded, "{\"kind\":\"list.added\",\"list\":\"banned\",\"ids\":[\"\xff\"]}")
	dup := b.publishRaw(t, decider.ChangeListAdded, `{"kind":"list.added","list":"banned","ids":["y"],"ids":["z"]}`)

	// The compacted snapshot of it all, as the projector writes it.
	fold, err := b.log.State(ctx, 0, nil)
	require.NoError(t, err)
	require.Equal(t, dup, fold.Position())
	require.NoError(t, policystore.SaveSnapshot(ctx, b.log.Stores().Snapshots, testApp, fold.Snapshot(), fold.Position(), policystore.SnapshotSeal{}))
	stopCtx, cancel := context.WithTimeout(ctx, 10e9)
	defer cancel()
	require.NoError(t, running.f.Stop(stopCtx))

	fix := b.publish(t, listChange(decider.ChangeListAdded, "banned", "spammer"))
	restarted := newReplica(t, b.js, Config{DataDir: dir, ReplicaID: "running"}).start(t)
	fresh := newReplica(t, b.js, Config{ReplicaID: "fresh"}).start(t)
	for _, r := range []*replica{restarted, fresh} {
		got := r.waitRevision(t, fix)
		require.Equal(t, []string{"spammer", "x"}, got.ListEntries("banned"))
		require.Equal(t, decider.OutcomeReject, r.engine.Decide(req("spammer", "m")).Outcome, "banned operators are refused")
		require.Empty(t, r.engine.Unready(), r.logs.String())
		require.NotContains(t, r.logs.String(), "not allowed", "nothing refuses what JSON allows")
	}
	require.Contains(t, fresh.logs.String(), "loaded the compacted policy snapshot")
	// The three bad events were rejected, precisely, by everyone.
	logs := fresh.logs.String() + restarted.logs.String()
	for _, want := range []string{`not UTF-8`, `has a control character`, `duplicate key \"ids\"`} {
		require.Contains(t, logs+running.logs.String(), want)
	}
	require.Equal(t, "a\x00b", fresh.engine.Snapshot().Document().Rules[0].ErrorInfo)
	require.Greater(t, dup, notUTF8)
	require.Greater(t, notUTF8, badID)
}

// TestInlineListIDsAreChecked: an inline list entry passes the same check
// as the ids of a list event.
func TestInlineListIDsAreChecked(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"", strings.Repeat("x", 5000), "new\nline", " pad"} {
		doc := &decider.Document{APIVersion: decider.APIVersion, Lists: map[string][]string{"l": {"ok", id}}}
		_, err := decider.Compile(doc, 1)
		require.ErrorIs(t, err, decider.ErrInvalidPolicy, "%q", id)
		require.Contains(t, err.Error(), `list "l": entry 1`)
	}
}

// TestUnpublishableSeedIsReportedOnce: a --policy file too big for one
// event is a permanent error, logged once, never retried in a loop.
func TestUnpublishableSeedIsReportedOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	seed := parseDoc(t, testPolicy)
	for i := range 120000 {
		seed.Lists["staff"] = append(seed.Lists["staff"], "staff-member-"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+itoa(i))
	}
	r := newReplica(t, b.js, Config{Seed: seed, SeedSource: "big.yaml"}).start(t)
	r.waitCaughtUp(t)
	later := b.publish(t, replacedBy(parseDoc(t, testPolicy)))
	r.waitRevision(t, later)
	require.Equal(t, 1, strings.Count(r.logs.String(), "cannot seed the policy log"), r.logs.String())
	require.Contains(t, r.logs.String(), "so that it fits one policy event")
	require.NotContains(t, r.logs.String(), "policy log not followed; retrying")
}

func itoa(i int) string { return strconv.Itoa(i) }
