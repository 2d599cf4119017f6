package policyfeed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/policystore"
)

// testKey is a named key pair of the tests.
type testKey struct {
	name string
	key  *decider.SigningKey
}

func newKey(t testing.TB, name string) testKey {
	t.Helper()
	k, err := decider.GenerateSigningKey()
	require.NoError(t, err)
	return testKey{name: name, key: k}
}

// line is the key's trust line, with options.
func (k testKey) line(options string) string {
	l := decider.AuthorizedKey(k.key.Public(), k.name)
	if options != "" {
		l = options + " " + l
	}
	return l
}

func trustOf(t testing.TB, lines ...string) *decider.Trust {
	t.Helper()
	tr, err := decider.ParseTrust([]byte(strings.Join(lines, "\n")), "test")
	require.NoError(t, err)
	return tr
}

// signedMsg is an event as published: body on subject, signed by key for
// signApp and signSubject (normally the app and subject it is sent on).
type signedMsg struct {
	kind, body           string
	key                  *decider.SigningKey
	signApp, signSubject string
	signBody             string
	header               map[string]string
}

// publishSigned publishes m on testApp's subject of m.kind.
func (b *bundle) publishSigned(t testing.TB, m signedMsg) uint64 {
	t.Helper()
	msg := nats.NewMsg(decider.PolicySubject(testApp, m.kind))
	msg.Data = []byte(m.body)
	if m.key != nil {
		app, subject, body := cmpOr(m.signApp, testApp), cmpOr(m.signSubject, msg.Subject), cmpOr(m.signBody, m.body)
		id, sig := m.key.SignEvent(app, subject, []byte(body))
		msg.Header.Set(decider.HeaderPolicyKey, id)
		msg.Header.Set(decider.HeaderPolicySignature, sig)
	}
	for k, v := range m.header {
		msg.Header.Set(k, v)
	}
	ack, err := b.js.PublishMsg(context.Background(), msg)
	require.NoError(t, err)
	return ack.Sequence
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func changeJSON(t testing.TB, c *decider.Change) string {
	t.Helper()
	data, err := c.Marshal()
	require.NoError(t, err)
	return string(data)
}

// TestTrustAppliesOnlySignedEvents: with trust, a signed event applies and
// records the key as its author; unsigned, tampered (body, subject, app),
// replayed onto another app, untrusted-key and republished events are
// rejected with their reason, and no decision changes.
func TestTrustAppliesOnlySignedEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	alice, mallory := newKey(t, "alice"), newKey(t, "mallory")
	trust := trustOf(t, "# policy admins", alice.line(""))
	signedLog := b.log.WithSigner(alice.key)
	good, err := signedLog.Publish(context.Background(), replacedBy(parseDoc(t, testPolicy)))
	require.NoError(t, err)
	ban, err := signedLog.Publish(context.Background(), listChange(decider.ChangeListAdded, "banned", "spammer"))
	require.NoError(t, err)

	r := newReplica(t, b.js, Config{Trust: trust}).start(t)
	before := r.waitRevision(t, ban)
	require.Equal(t, decider.OutcomeReject, before.Decide(req("spammer")).Outcome)

	unban := changeJSON(t, listChange(decider.ChangeListRemoved, "banned", "spammer"))
	allowAll := changeJSON(t, replacedBy(parseDoc(t, "apiVersion: invitegate/v1\nrules: []\n")))
	forged := []struct {
		name   string
		msg    signedMsg
		reason string
	}{
		{"unsigned", signedMsg{kind: decider.ChangeListRemoved, body: unban}, decider.RejectUnsigned},
		{"tampered body", signedMsg{kind: decider.ChangeReplaced, body: allowAll, key: alice.key,
			signBody: strings.Replace(allowAll, "rules", "rules ", 1)}, decider.RejectBadSignature},
		{"tampered subject", signedMsg{kind: decider.ChangeListRemoved, body: unban, key: alice.key,
			signSubject: decider.PolicySubject(testApp, decider.ChangeListAdded)}, decider.RejectBadSignature},
		{"replayed onto another app", signedMsg{kind: decider.ChangeListRemoved, body: unban, key: alice.key,
			signApp: "1400000001", signSubject: decider.PolicySubject("1400000001", decider.ChangeListRemoved)}, decider.RejectBadSignature},
		{"tampered app", signedMsg{kind: decider.ChangeListRemoved, body: unban, key: alice.key, signApp: "1400000001"}, decider.RejectBadSignature},
		{"untrusted key", signedMsg{kind: decider.ChangeListRemoved, body: unban, key: mallory.key}, decider.RejectUntrustedKey},
		{"garbage signature", signedMsg{kind: decider.ChangeListRemoved, body: unban,
			header: map[string]string{decider.HeaderPolicyKey: alice.key.ID(), decider.HeaderPolicySignature: "!!"}}, decider.RejectBadSignature},
		{"republished", signedMsg{kind: decider.ChangeListRemoved, body: unban, key: alice.key,
			header: map[string]string{jetstream.StreamHeader: "EVIL"}}, decider.RejectRepublished},
	}
	want := map[string]float64{}
	var last uint64
	for _, f := range forged {
		last = b.publishSigned(t, f.msg)
		want[f.reason]++
	}
	next, err := signedLog.Publish(context.Background(), listChange(decider.ChangeListAdded, "banned", "bot"))
	require.NoError(t, err)
	require.Greater(t, next, last)
	after := r.waitRevision(t, next)
	require.Equal(t, []string{"bot", "spammer"}, after.ListEntries("banned"), "no forged event changed anything")
	require.Equal(t, before.Document(), after.Document())
	require.Equal(t, decider.OutcomeReject, after.Decide(req("spammer")).Outcome)
	for reason, n := range want {
		require.Equal(t, n, r.counter(t, "invitegate_policy_events_rejected_total", "reason", reason), reason)
	}
	require.Contains(t, r.logs.String(), `"reason":"unsigned"`)

	// The audit view of the log (policy history) sees the same, with the
	// key as the author of what applied.
	var statuses []string
	fold, err := b.log.WithTrust(trust).State(context.Background(), 0, func(rec policystore.Record, err error) {
		var ce *decider.ChangeError
		require.ErrorAs(t, err, &ce)
		statuses = append(statuses, ce.Reason)
	})
	require.NoError(t, err)
	require.Len(t, statuses, len(forged))
	require.Equal(t, after.ListEntries("banned"), fold.Snapshot().ListEntries("banned"))
	c, err := policystore.ApplyRecord(decider.NewFold(nil, 0), trust, readRecord(t, b, good))
	require.NoError(t, err)
	require.Equal(t, "alice "+alice.key.ID(), c.Author, "the author recorded is the key's identity")
}

func readRecord(t testing.TB, b *bundle, seq uint64) policystore.Record {
	t.Helper()
	var out policystore.Record
	require.NoError(t, b.log.Read(context.Background(), seq, seq, func(r policystore.Record) error { out = r; return nil }))
	require.Equal(t, seq, out.Seq)
	return out
}

// TestTrustRotationAndRevocation: two keys are trusted during a rotation;
// revoking one (until=N) rejects its later events while its earlier ones
// stay applied, also for a replica that replays the whole log.
func TestTrustRotationAndRevocation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	old, next := newKey(t, "old"), newKey(t, "next")
	ctx := context.Background()
	r1, err := b.log.WithSigner(old.key).Publish(ctx, replacedBy(parseDoc(t, testPolicy)))
	require.NoError(t, err)
	r2, err := b.log.WithSigner(old.key).Publish(ctx, listChange(decider.ChangeListAdded, "banned", "by-old"))
	require.NoError(t, err)
	rotating := newReplica(t, b.js, Config{Trust: trustOf(t, old.line(""), next.line("")), ReplicaID: "rotating"}).start(t)
	r3, err := b.log.WithSigner(next.key).Publish(ctx, listChange(decider.ChangeListAdded, "banned", "by-next"))
	require.NoError(t, err)
	require.Equal(t, []string{"by-next", "by-old"}, rotating.waitRevision(t, r3).ListEntries("banned"), "both keys apply during the rotation")

	// The old key is revoked after r3: its later events are rejected.
	r4, err := b.log.WithSigner(old.key).Publish(ctx, listChange(decider.ChangeListAdded, "banned", "late-old"))
	require.NoError(t, err)
	r5, err := b.log.WithSigner(next.key).Publish(ctx, listChange(decider.ChangeListAdded, "banned", "later-next"))
	require.NoError(t, err)
	revoked := trustOf(t, old.line("until="+uint64String(r3)), next.line(""))
	fresh := newReplica(t, b.js, Config{Trust: revoked, ReplicaID: "fresh"}).start(t)
	s := fresh.waitRevision(t, r5)
	require.Equal(t, []string{"by-next", "by-old", "later-next"}, s.ListEntries("banned"))
	require.Equal(t, 1.0, fresh.counter(t, "invitegate_policy_events_rejected_total", "reason", decider.RejectUntrustedKey))
	require.Contains(t, fresh.logs.String(), "revoked after revision")
	require.Less(t, r1, r2)
	require.Less(t, r3, r4)

	// Removing the key altogether rejects all of its events on a replay.
	gone := newReplica(t, b.js, Config{Trust: trustOf(t, next.line("")), ReplicaID: "gone"}).start(t)
	gone.waitCaughtUp(t)
	require.Nil(t, gone.engine.Snapshot(), "without the old key's first policy nothing applies")
}

func uint64String(v uint64) string { return strconv.FormatUint(v, 10) }

// TestForgedCompactedSnapshotIsRefused: with trust, a compacted snapshot
// not signed by a snapshots key (or signed, then changed) is refused and
// counted; the replica replays the signed events instead. A snapshot
// signed by the compactor's key is used.
func TestForgedCompactedSnapshotIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	admin, compactor, mallory := newKey(t, "admin"), newKey(t, "compactor"), newKey(t, "mallory")
	trust := trustOf(t, admin.line(""), compactor.line("snapshots"))
	signed := b.log.WithSigner(admin.key)
	_, err := signed.Publish(ctx, replacedBy(parseDoc(t, testPolicy)))
	require.NoError(t, err)
	rev, err := signed.Publish(ctx, listChange(decider.ChangeListAdded, "banned", "spammer"))
	require.NoError(t, err)

	// A forged state: the same position, no rules at all.
	forged, err := decider.Compile(parseDoc(t, "apiVersion: invitegate/v1\nrules: []\n"), rev)
	require.NoError(t, err)
	obs := b.log.Stores().Snapshots
	fp := trust.Fingerprint(testApp)
	for name, seal := range map[string]policystore.SnapshotSeal{
		"unsigned":                   {},
		"signed by mallory":          {Key: mallory.key, Trust: fp},
		"admin is not for snapshots": {Key: admin.key, Trust: fp},
		"other trust":                {Key: compactor.key, Trust: "0123"},
	} {
		require.NoError(t, policystore.SaveSnapshot(ctx, obs, testApp, forged, rev, seal), name)
		r := newReplica(t, b.js, Config{Trust: trust, ReplicaID: "r" + hexName(name)}).start(t)
		s := r.waitRevision(t, rev)
		require.Equal(t, decider.OutcomeReject, s.Decide(req("spammer")).Outcome, name)
		require.Equal(t, 1.0, r.counter(t, "invitegate_policy_snapshot_load_errors_total", "source", "compacted"), name)
		require.Contains(t, r.logs.String(), "compacted policy snapshot refused", name)
		require.Eventually(t, func() bool { return r.engine.Unready() == "" }, 10*time.Second, 5*time.Millisecond,
			"ready again once the log is replayed")
	}

	// The real fold signed by the compactor, then its content replaced:
	// refused too.
	fold, err := b.log.WithTrust(trust).State(ctx, 0, nil)
	require.NoError(t, err)
	require.NoError(t, policystore.SaveSnapshot(ctx, obs, testApp, fold.Snapshot(), fold.Position(), policystore.SnapshotSeal{Key: compactor.key, Trust: fp}))
	info, err := obs.GetInfo(ctx, policystore.SnapshotObject(testApp))
	require.NoError(t, err)
	require.NoError(t, policystore.SaveSnapshot(ctx, obs, testApp, forged, rev, policystore.SnapshotSeal{}))
	require.NoError(t, obs.UpdateMeta(ctx, info.Name, info.ObjectMeta), "the old signature on the new content")
	r := newReplica(t, b.js, Config{Trust: trust, ReplicaID: "swapped"}).start(t)
	require.Equal(t, decider.OutcomeReject, r.waitRevision(t, rev).Decide(req("spammer")).Outcome)
	require.Contains(t, r.logs.String(), "not what was signed")

	// The real thing, signed by the compactor's key, is used.
	require.NoError(t, policystore.SaveSnapshot(ctx, obs, testApp, fold.Snapshot(), fold.Position(), policystore.SnapshotSeal{Key: compactor.key, Trust: fp}))
	ok := newReplica(t, b.js, Config{Trust: trust, ReplicaID: "ok"}).start(t)
	ok.waitRevision(t, rev)
	require.Contains(t, ok.logs.String(), "loaded the compacted policy snapshot")
	require.Zero(t, ok.counter(t, "invitegate_policy_snapshot_load_errors_total", "source", "compacted"))
}

func hexName(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

// TestSnapshotBeyondTheStreamIsRefused: a compacted snapshot claiming a
// position the stream never reached is not loaded, trust or not.
func TestSnapshotBeyondTheStreamIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	rev := b.publish(t, replacedBy(parseDoc(t, testPolicy)))
	forged, err := decider.Compile(parseDoc(t, "apiVersion: invitegate/v1\nrules: []\n"), rev+100)
	require.NoError(t, err)
	require.NoError(t, policystore.SaveSnapshot(ctx, b.log.Stores().Snapshots, testApp, forged, rev+100, policystore.SnapshotSeal{}))
	r := newReplica(t, b.js, Config{}).start(t)
	s := r.waitRevision(t, rev)
	require.Len(t, s.Rules(), 2)
	require.Contains(t, r.logs.String(), "beyond the stream's last sequence")
}

// TestDiskSnapshotOfAnotherTrustIsNotServed: a snapshot on disk written
// under another trust (or none) is not served, and /readyz (the engine's
// Unready) says so until the log is caught up.
func TestDiskSnapshotOfAnotherTrustIsNotServed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir := t.TempDir()
	rev := b.publish(t, replacedBy(parseDoc(t, testPolicy))) // unsigned
	plain := newReplica(t, b.js, Config{DataDir: dir, ReplicaID: "a"})
	require.NoError(t, plain.f.Start(context.Background()))
	plain.waitRevision(t, rev)
	stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, plain.f.Stop(stop))

	admin := newKey(t, "admin")
	b.srv.Shutdown() // the log is unreachable: only the disk could serve
	b.srv.WaitForShutdown()
	trusted := newReplica(t, b.js, Config{DataDir: dir, ReplicaID: "a", Trust: trustOf(t, admin.line(""))}).start(t)
	require.Nil(t, trusted.engine.Snapshot(), "the unsigned policy on disk is not served")
	require.Contains(t, trusted.engine.Unready(), "trust")
	require.Equal(t, 1.0, trusted.counter(t, "invitegate_policy_snapshot_load_errors_total", "source", "disk"))
}
