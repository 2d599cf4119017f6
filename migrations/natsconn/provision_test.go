package natsconn

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

// With ProvisionNever nothing is created: each missing stream or bucket is
// an error naming `invitegate migrate up`.
func TestProvisionNeverOnlyLooksUp(t *testing.T) {
	t.Parallel()
	b := setup(t, EmbeddedConfig{})
	ctx := t.Context()
	_, err := EnsureEventStream(ctx, b.js, EventStreamConfig{Provision: ProvisionNever})
	require.ErrorIs(t, err, ErrNotProvisioned)
	require.ErrorContains(t, err, "stream INVITEGATE_EVENTS: not provisioned: run `invitegate migrate up")
	_, err = EnsurePolicyStores(ctx, b.js, PolicyStreamConfig{Provision: ProvisionNever})
	require.ErrorIs(t, err, ErrNotProvisioned)
	require.ErrorContains(t, err, decider.PolicyStream)

	// The stream alone is not enough: each bucket is looked up too.
	_, err = b.js.CreateStream(ctx, PolicyStreamConfig{}.StreamConfig())
	require.NoError(t, err)
	_, err = EnsurePolicyStores(ctx, b.js, PolicyStreamConfig{Provision: ProvisionNever})
	require.ErrorContains(t, err, "kv "+PolicyStatusBucket+": not provisioned")
	_, err = b.js.CreateKeyValue(ctx, PolicyStreamConfig{}.StatusConfig())
	require.NoError(t, err)
	_, err = EnsurePolicyStores(ctx, b.js, PolicyStreamConfig{Provision: ProvisionNever})
	require.ErrorContains(t, err, "object store "+PolicySnapshotBucket+": not provisioned")

	names := b.js.StreamNames(ctx)
	var got []string
	for n := range names.Name() {
		got = append(got, n)
	}
	require.NoError(t, names.Err())
	require.ElementsMatch(t, []string{decider.PolicyStream, "KV_" + PolicyStatusBucket}, got, "nothing created")
}

// Provision (migrate up) creates everything, then updates it to a changed
// configuration; services find it with ProvisionNever.
func TestProvisionCreatesThenUpdates(t *testing.T) {
	t.Parallel()
	b := setup(t, EmbeddedConfig{})
	ctx := t.Context()
	inv, err := Inventory(ctx, b.js)
	require.NoError(t, err)
	require.Equal(t, "stream INVITEGATE_EVENTS: missing", inv[0].String())
	done, err := Provision(ctx, b.js, EventStreamConfig{}, PolicyStreamConfig{})
	require.NoError(t, err)
	require.Equal(t, []string{"stream INVITEGATE_EVENTS: created", "stream INVITEGATE_POLICY: created",
		"kv invitegate_policy_status: created", "object store invitegate_policy_snapshots: created"}, provisionedLines(done))

	inv, err = Inventory(ctx, b.js)
	require.NoError(t, err)
	for _, st := range inv {
		require.True(t, st.Exists, st.Name)
	}
	require.Equal(t, "object store invitegate_policy_snapshots: present", inv[3].String())
	_, err = EnsureEventStream(ctx, b.js, EventStreamConfig{Provision: ProvisionNever})
	require.NoError(t, err)
	st, err := EnsurePolicyStores(ctx, b.js, PolicyStreamConfig{Provision: ProvisionNever})
	require.NoError(t, err)
	_, err = st.Status.Put(ctx, "a.b", []byte("x"))
	require.NoError(t, err)

	done, err = Provision(ctx, b.js, EventStreamConfig{MaxAge: time.Hour, Duplicates: time.Minute},
		PolicyStreamConfig{StatusTTL: 30 * time.Second})
	require.NoError(t, err)
	require.Equal(t, []string{"stream INVITEGATE_EVENTS: updated", "stream INVITEGATE_POLICY: updated",
		"kv invitegate_policy_status: updated", "object store invitegate_policy_snapshots: updated"}, provisionedLines(done))
	s, err := b.js.Stream(ctx, decider.EventStream)
	require.NoError(t, err)
	require.Equal(t, time.Hour, s.CachedInfo().Config.MaxAge)
	kv, err := b.js.KeyValue(ctx, PolicyStatusBucket)
	require.NoError(t, err)
	kvs, err := kv.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, 30*time.Second, kvs.TTL())
	require.Equal(t, jetstream.MemoryStorage, kvs.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Storage)
}

func provisionedLines(ps []Provisioned) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func TestProvisioningValidate(t *testing.T) {
	t.Parallel()
	require.ErrorIs(t, EventStreamConfig{Provision: 9}.Validate(), ErrInvalidConfig)
	require.ErrorIs(t, PolicyStreamConfig{Provision: 9}.Validate(), ErrInvalidConfig)
	require.Equal(t, "never", ProvisionNever.String())
}

// A user that may not create a stream gets no answer to the create: the
// error says so and names `invitegate migrate up`.
func TestCreateDeniedNamesMigrateUp(t *testing.T) {
	t.Parallel()
	b := permissionedServer(t, []string{"$JS.API.STREAM.INFO.>"})
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	_, err := EnsureEventStream(ctx, b.svc, EventStreamConfig{})
	require.ErrorIs(t, err, ErrNotProvisioned)
	require.ErrorContains(t, err, "create stream INVITEGATE_EVENTS: context deadline exceeded (the NATS user may not create it)")
}

// A service whose user may only look streams up works as long as they are
// as it needs them: it sends no create or update then. One that differs is
// updated with ProvisionMissing (denied here: the error names migrate up)
// and used as it is with ProvisionNever.
func TestNoRequestForWhatIsAsNeeded(t *testing.T) {
	t.Parallel()
	lookups := []string{"$JS.API.STREAM.INFO.>", "$JS.API.DIRECT.GET.>", "$JS.API.STREAM.MSG.GET.>"}
	b := permissionedServer(t, lookups)
	ctx := t.Context()
	_, err := Provision(ctx, b.admin, EventStreamConfig{}, PolicyStreamConfig{})
	require.NoError(t, err)

	_, err = EnsureEventStream(ctx, b.svc, EventStreamConfig{})
	require.NoError(t, err)
	_, err = EnsurePolicyStores(ctx, b.svc, PolicyStreamConfig{})
	require.NoError(t, err)

	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	_, err = EnsureEventStream(short, b.svc, EventStreamConfig{MaxAge: time.Hour})
	require.ErrorIs(t, err, ErrNotProvisioned)
	require.ErrorContains(t, err, "update stream INVITEGATE_EVENTS: context deadline exceeded (the NATS user may not update it)")
	_, err = EnsureEventStream(ctx, b.svc, EventStreamConfig{MaxAge: time.Hour, Provision: ProvisionNever})
	require.NoError(t, err)
	_, err = EnsurePolicyStores(ctx, b.svc, PolicyStreamConfig{StatusTTL: time.Hour, Replicas: 1, Provision: ProvisionNever})
	require.NoError(t, err)

	// Buckets that differ are updated too.
	st, err := EnsurePolicyStores(ctx, b.admin, PolicyStreamConfig{StatusTTL: 30 * time.Second})
	require.NoError(t, err)
	kvs, err := st.Status.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, 30*time.Second, kvs.TTL())
}

type permissioned struct{ admin, svc jetstream.JetStream }

// permissionedServer starts a JetStream server with a user "admin" that
// may do anything and a user "svc" that may publish only to svcAllow.
func permissionedServer(t *testing.T, svcAllow []string) permissioned {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
		Users: []*server.User{{Username: "admin", Password: "pw"}, {Username: "svc", Password: "pw", Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: svcAllow},
			Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
		}}}}
	srv, err := server.NewServer(opts)
	require.NoError(t, err)
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	require.True(t, srv.ReadyForConnections(10*time.Second))
	var b permissioned
	for _, u := range []string{"admin", "svc"} {
		nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(u, "pw"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		require.NoError(t, err)
		if u == "admin" {
			b.admin = js
		} else {
			b.svc = js
		}
	}
	return b
}
