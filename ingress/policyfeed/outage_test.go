package policyfeed

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/invitegate/invitegate/migrations/policystore"
)

// tcpServer starts a JetStream server listening on addr ("127.0.0.1:0":
// a free port) over store.
func tcpServer(t *testing.T, addr, store string) *server.Server {
	t.Helper()
	srv, err := natsconn.StartEmbedded(natsconn.EmbeddedConfig{StoreDir: store, ListenAddr: addr}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv
}

// restartable is a TCP server on a store of its own, whose log holds the
// test policy, published once: a server the test can stop and start
// again at the same address.
type restartable struct {
	srv   *server.Server
	addr  *net.TCPAddr
	store string
	url   string
	js    jetstream.JetStream
	log   *policystore.Log
	rev   uint64 // the test policy's revision
}

func newRestartable(t *testing.T) *restartable {
	t.Helper()
	r := &restartable{store: t.TempDir()}
	r.srv = tcpServer(t, "127.0.0.1:0", r.store)
	r.addr = r.srv.Addr().(*net.TCPAddr)
	r.url = fmt.Sprintf("nats://127.0.0.1:%d", r.addr.Port)
	r.js = dial(t, r.url)
	var err error
	r.log, err = policystore.OpenLog(context.Background(), r.js, testApp, natsconn.PolicyStreamConfig{})
	require.NoError(t, err)
	r.rev, err = r.log.Publish(context.Background(), replacedBy(parseDoc(t, testPolicy)))
	require.NoError(t, err)
	return r
}

// stop shuts the server down.
func (r *restartable) stop() {
	r.srv.Shutdown()
	r.srv.WaitForShutdown()
}

// restart starts the server again on its address and store, and returns
// the log through a new connection.
func (r *restartable) restart(t *testing.T) *policystore.Log {
	t.Helper()
	r.srv = tcpServer(t, r.addr.String(), r.store)
	log, err := policystore.OpenLog(context.Background(), dial(t, r.url), testApp, natsconn.PolicyStreamConfig{})
	require.NoError(t, err)
	return log
}

// dial connects to url like the ingress does: reconnecting for ever,
// retrying a failed first connect in the background.
func dial(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := natsconn.Connect(context.Background(), natsconn.Config{URL: url, ReconnectWait: 20 * time.Millisecond},
		nil, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// TestReplicaStartedWhileNATSIsDownServesItsLastGoodSnapshot: a replica
// follows the log and saves its snapshot; NATS goes down; the replica
// restarts and serves the snapshot from disk at once; NATS comes back and
// the replica catches up with what was published meanwhile.
func TestReplicaStartedWhileNATSIsDownServesItsLastGoodSnapshot(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	nats := newRestartable(t)
	js, log, url := nats.js, nats.log, nats.url
	rev, err := log.Publish(context.Background(), listChange(decider.ChangeListAdded, "banned", "spammer"))
	require.NoError(t, err)
	first := newReplica(t, js, Config{DataDir: dataDir, ReplicaID: "a"})
	require.NoError(t, first.f.Start(context.Background()))
	first.waitRevision(t, rev)
	require.NoError(t, first.f.Stop(context.Background()))

	nats.stop()

	down := newReplica(t, dial(t, url), Config{DataDir: dataDir, ReplicaID: "a", RequestTimeout: 200 * time.Millisecond}).start(t)
	s := down.engine.Snapshot()
	require.NotNil(t, s, "served from disk with NATS down")
	require.Equal(t, rev, s.Revision())
	require.Equal(t, decider.OutcomeReject, down.engine.Decide(req("spammer", "x")).Outcome)
	require.Eventually(t, func() bool {
		return followErrors(t, down) > 0
	}, 10*time.Second, 10*time.Millisecond, "the replica keeps trying")
	require.Equal(t, rev, down.f.Revision())

	log2 := nats.restart(t)
	rev2, err := log2.Publish(context.Background(), listChange(decider.ChangeListAdded, "banned", "later"))
	require.NoError(t, err)
	s = down.waitRevision(t, rev2)
	require.Equal(t, []string{"later", "spammer"}, s.ListEntries("banned"))
}

func followErrors(t *testing.T, r *replica) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "invitegate_policy_follow_errors_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// TestSeedIsServedWhileNATSIsDownWithNothingOnDisk: with no log and no
// snapshot on disk, the --policy file is served as revision 0; once NATS is
// up the file seeds the empty log and the replica moves to it.
func TestSeedIsServedWhileNATSIsDownWithNothingOnDisk(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	js := dial(t, "nats://"+addr)
	r := newReplica(t, js, Config{Seed: parseDoc(t, testPolicy), SeedSource: "policy.yaml", RequestTimeout: 100 * time.Millisecond}).start(t)
	require.Eventually(t, func() bool { return r.engine.Snapshot() != nil }, 10*time.Second, 5*time.Millisecond)
	require.Zero(t, r.engine.Snapshot().Revision())
	require.Contains(t, r.logs.String(), "serving the --policy file (revision 0) meanwhile")

	tcpServer(t, addr, t.TempDir())
	r.waitCaughtUp(t)
	require.Equal(t, uint64(1), r.waitRevision(t, 1).Revision(), "the seed is the log's first event")
}

// TestFollowerSurvivesANATSRestart: a following replica keeps deciding
// through an outage and applies what is published after NATS comes back.
func TestFollowerSurvivesANATSRestart(t *testing.T) {
	t.Parallel()
	nats := newRestartable(t)
	rev := nats.rev
	r := newReplica(t, dial(t, nats.url), Config{RequestTimeout: 500 * time.Millisecond}).start(t)
	r.waitRevision(t, rev)

	nats.stop()
	require.Equal(t, rev, r.engine.Decide(req("x", "y")).Revision, "decides on through the outage")

	log2 := nats.restart(t)
	rev2, err := log2.Publish(context.Background(), listChange(decider.ChangeListAdded, "banned", "after"))
	require.NoError(t, err)
	require.True(t, r.waitRevision(t, rev2).ListHas("banned", "after"))
}
