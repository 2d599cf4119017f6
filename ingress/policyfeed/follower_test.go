package policyfeed

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/decider/startstop"
	"github.com/invitegate/invitegate/decider/startstop/startstoptest"
	"github.com/invitegate/invitegate/migrations/policystore"
)

func TestFollowerAppliesTheLog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rev1 := b.publish(t, replacedBy(parseDoc(t, testPolicy)))
	r := newReplica(t, b.js, Config{}).start(t)
	r.waitCaughtUp(t)
	require.Equal(t, rev1, r.waitRevision(t, rev1).Revision())

	rev2 := b.publish(t, listChange(decider.ChangeListAdded, "banned", "spammer", "bot"))
	s := r.waitRevision(t, rev2)
	d := s.Decide(req("spammer", "x"))
	require.Equal(t, decider.OutcomeReject, d.Outcome)
	require.Equal(t, rev2, d.Revision, "decisions carry the revision")
	require.Equal(t, rev2, r.engine.Decide(req("admin", "bot")).Revision)

	rev3 := b.publish(t, listChange(decider.ChangeListRemoved, "banned", "spammer"))
	s = r.waitRevision(t, rev3)
	require.Equal(t, []string{"bot"}, s.ListEntries("banned"))
	require.Equal(t, 2.0, r.counter(t, "invitegate_policy_events_applied_total", "kind", decider.ChangeListAdded)+
		r.counter(t, "invitegate_policy_events_applied_total", "kind", decider.ChangeListRemoved))
}

// TestInvalidEventsAreNeverApplied publishes, with a plain NATS client,
// events that do not validate: each is rejected, counted by reason and
// logged, and the last good policy stays in force.
func TestInvalidEventsAreNeverApplied(t *testing.T) {
	t.Parallel()
	b := setup(t)
	good := b.publish(t, replacedBy(parseDoc(t, testPolicy)))
	r := newReplica(t, b.js, Config{}).start(t)
	last := r.waitRevision(t, good)

	bad := []struct{ kind, data, reason string }{
		{decider.ChangeReplaced, `{"kind":"replaced","document":{"apiVersion":"invitegate/v1","rules":[{"name":"x","reject":"operator in lists.nope"}]}}`, decider.RejectInvalidPolicy},
		{decider.ChangeReplaced, `{"kind":"replaced","document":{"apiVersion":"invitegate/v1","rules":[{"name":"x","reject":"operator +"}]}}`, decider.RejectInvalidPolicy},
		{decider.ChangeListAdded, `{"kind":"list.added","list":"bots","ids":["b"]}`, decider.RejectUnknownList},
		{decider.ChangeListAdded, `not json`, decider.RejectMalformed},
		{decider.ChangeListAdded, `{"kind":"list.removed","list":"banned","ids":["b"]}`, decider.RejectMalformed},
		{decider.ChangeListAdded, `{"kind":"list.added","list":"banned","ids":[""]}`, decider.RejectMalformed},
	}
	var lastBad uint64
	for _, e := range bad {
		lastBad = b.publishRaw(t, e.kind, e.data)
	}
	next := b.publish(t, listChange(decider.ChangeListAdded, "banned", "later"))
	s := r.waitRevision(t, next)
	require.Greater(t, next, lastBad)
	require.Equal(t, []string{"later"}, s.ListEntries("banned"), "only the valid event changed anything")
	require.Equal(t, last.Document(), s.Document(), "the rules are the last good ones")
	require.Equal(t, 2.0, r.counter(t, "invitegate_policy_events_rejected_total", "reason", decider.RejectInvalidPolicy))
	require.Equal(t, 1.0, r.counter(t, "invitegate_policy_events_rejected_total", "reason", decider.RejectUnknownList))
	require.Equal(t, 3.0, r.counter(t, "invitegate_policy_events_rejected_total", "reason", decider.RejectMalformed))
	require.Contains(t, r.logs.String(), `"msg":"policy event rejected: the last good policy stays"`)
	require.Contains(t, r.logs.String(), `undefined list \"nope\"`)

	// The policystore.Log refuses to publish what would not validate.
	_, err := b.log.Publish(context.Background(), &decider.Change{Kind: decider.ChangeReplaced,
		Document: parseDoc(t, "apiVersion: invitegate/v1\nrules: [{name: x, reject: 'operator +'}]\n")})
	require.ErrorIs(t, err, decider.ErrInvalidChange)
	head, err := b.log.Head(context.Background())
	require.NoError(t, err)
	require.Equal(t, next, head)
}

func TestSeedOnlyAnEmptyLog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	seed := parseDoc(t, testPolicy)
	r1 := newReplica(t, b.js, Config{Seed: seed, SeedSource: "a.yaml", ReplicaID: "one"}).start(t)
	r1.waitCaughtUp(t)
	s := r1.engine.Snapshot()
	require.NotNil(t, s)
	require.Equal(t, seed.Rules, s.Document().Rules)

	other := parseDoc(t, "apiVersion: invitegate/v1\nrules: [{name: all, reject: 'true'}]\n")
	r2 := newReplica(t, b.js, Config{Seed: other, SeedSource: "b.yaml", ReplicaID: "two"}).start(t)
	r2.waitCaughtUp(t)
	require.Equal(t, s.Revision(), r2.engine.Snapshot().Revision())
	require.Equal(t, seed.Rules, r2.engine.Snapshot().Document().Rules, "the log wins over the file")
	require.Contains(t, r2.logs.String(), "policy log has events: the --policy file is ignored")

	var authors []string
	require.NoError(t, b.log.Read(context.Background(), 1, 0, func(rec policystore.Record) error {
		c, err := decider.ParseChange(rec.Data)
		require.NoError(t, err)
		authors = append(authors, c.Author)
		return nil
	}))
	require.Equal(t, []string{"seed:a.yaml"}, authors, "seeded once")
}

// With SeedServeOnly (a replica whose NATS user may not write the log) the
// file is served at revision 0 while the app's log is empty, nothing is
// published, and the first event of the log takes over.
func TestSeedServeOnlyServesTheFileUntilTheFirstEvent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	seed := parseDoc(t, testPolicy)
	r := newReplica(t, b.js, Config{Seed: seed, SeedSource: "a.yaml", SeedServeOnly: true}).start(t)
	r.waitCaughtUp(t)
	s := r.engine.Snapshot()
	require.NotNil(t, s)
	require.Zero(t, s.Revision())
	require.Equal(t, seed.Rules, s.Document().Rules)
	require.Contains(t, r.logs.String(), "the policy log of this app is empty: serving the --policy file (revision 0) meanwhile")
	head, err := b.log.Head(context.Background())
	require.NoError(t, err)
	require.Zero(t, head, "nothing published")

	other := parseDoc(t, "apiVersion: invitegate/v1\nrules: [{name: all, reject: 'true'}]\n")
	rev := b.publish(t, replacedBy(other))
	require.Eventually(t, func() bool { return r.engine.Snapshot().Revision() == rev }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, other.Rules, r.engine.Snapshot().Document().Rules)
}

func TestFollowerRestartsFromItsDiskSnapshot(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.publish(t, replacedBy(parseDoc(t, testPolicy)))
	rev := b.publish(t, listChange(decider.ChangeListAdded, "banned", "x"))
	dir := t.TempDir()
	r := newReplica(t, b.js, Config{DataDir: dir, ReplicaID: "a"})
	require.NoError(t, r.f.Start(context.Background()))
	r.waitRevision(t, rev)
	require.NoError(t, r.f.Stop(context.Background()), "Stop saves the newest snapshot")
	require.NoError(t, r.f.Stop(context.Background()), "twice")

	r2 := newReplica(t, b.js, Config{DataDir: dir, ReplicaID: "a"}).start(t)
	require.NotNil(t, r2.engine.Snapshot(), r.logs.String()+r2.logs.String())
	require.Equal(t, rev, r2.engine.Snapshot().Revision(), "served from disk before the log is read")
	require.Equal(t, rev, r2.f.Revision())
	r2.waitCaughtUp(t)
	require.Zero(t, r2.counter(t, "invitegate_policy_events_applied_total", "kind", decider.ChangeReplaced),
		"nothing replayed from the log")
}

func TestUnreadableDiskSnapshotIsIgnored(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rev := b.publish(t, replacedBy(parseDoc(t, testPolicy)))
	dir := t.TempDir()
	path := filepath.Join(dir, "policy", testApp+".json")
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(`{"format":"nope"}`), 0o644))
	r := newReplica(t, b.js, Config{DataDir: dir}).start(t)
	r.waitRevision(t, rev)
	require.Contains(t, r.logs.String(), "ignoring the policy snapshot on disk")
	require.Eventually(t, func() bool {
		s, _, err := newDiskStore(dir, testApp, "").load()
		return err == nil && s != nil && s.Revision() == rev
	}, 10*time.Second, 10*time.Millisecond, "the good snapshot replaces it")
}

func TestStopBeforeStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := newReplica(t, b.js, Config{})
	require.NoError(t, r.f.Stop(context.Background()))
	require.ErrorIs(t, r.f.Start(context.Background()), startstop.ErrStopped, "a stopped follower does not start")
	require.Nil(t, r.engine.Snapshot())
}

func TestFollowerStartStop(t *testing.T) {
	t.Parallel()
	b := setup(t)
	startstoptest.Stress(t, func(t *testing.T) startstoptest.Component { return newReplica(t, b.js, Config{}).f })
}
