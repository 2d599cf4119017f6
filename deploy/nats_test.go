package deploy

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/natsconn"
)

// natsSetup is a NATS server started from a shipped configuration, and how
// each of invitegate's users connects to it.
type natsSetup struct {
	url   string
	users map[string]nats.Option // ingress, projector, policy-admin
	opts  *server.Options
}

// startNATS loads the configuration in dir (nats.conf and what it includes),
// keeps its accounts, permissions and JetStream settings, and starts it on a
// random local port with a temporary store and without cluster routes.
func startNATS(t *testing.T, dir string, users map[string]nats.Option) natsSetup {
	t.Helper()
	opts, err := server.ProcessConfigFile(filepath.Join(dir, "nats.conf"))
	require.NoError(t, err)
	loaded := *opts
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, 0
	opts.Cluster, opts.Routes = server.ClusterOpts{}, nil
	opts.StoreDir, opts.PidFile = t.TempDir(), ""
	opts.NoLog, opts.NoSigs = true, true
	s, err := server.NewServer(opts)
	require.NoError(t, err)
	go s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	require.True(t, s.ReadyForConnections(10*time.Second), "nats did not start")
	return natsSetup{url: s.ClientURL(), users: users, opts: &loaded}
}

// client is one user's connection with its asynchronous errors (permission
// violations arrive that way).
type client struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	errs chan error
}

func (n natsSetup) connect(t *testing.T, user string) *client {
	t.Helper()
	c := &client{errs: make(chan error, 64)}
	nc, err := nats.Connect(n.url, n.users[user], nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		c.errs <- err
	}))
	require.NoError(t, err, user)
	t.Cleanup(nc.Close)
	c.nc = nc
	c.js, err = jetstream.New(nc)
	require.NoError(t, err)
	return c
}

// requireDenied publishes to subject (or subscribes, when sub) and waits for
// the server's permissions violation naming it.
func (c *client) requireDenied(t *testing.T, subject string, sub bool) {
	t.Helper()
	want := `Permissions Violation for Publish to "` + subject + `"`
	if sub {
		want = `Permissions Violation for Subscription to "` + subject + `"`
		_, err := c.nc.SubscribeSync(subject)
		require.NoError(t, err)
	} else {
		require.NoError(t, c.nc.Publish(subject, []byte("x")))
	}
	require.NoError(t, c.nc.Flush())
	deadline := time.After(10 * time.Second)
	for {
		select {
		case err := <-c.errs:
			if strings.Contains(err.Error(), want) {
				return
			}
		case <-deadline:
			require.Failf(t, "not denied", "%s", want)
		}
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// requirePermissions tries every grant and every denial of the three users.
func requirePermissions(t *testing.T, n natsSetup) {
	ctx := ctxT(t)
	const policySubject, eventSubject = "invitegate.policy.1400000000.replaced", "invitegate.events.1400000000.invite"

	// Unknown users are refused.
	_, err := nats.Connect(n.url, nats.UserInfo("intruder", "guess"))
	require.ErrorContains(t, err, "Authorization Violation")

	admin := n.connect(t, "policy-admin")
	_, err = admin.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "INVITEGATE_POLICY", Subjects: []string{"invitegate.policy.>"}})
	require.NoError(t, err)
	_, err = admin.js.Publish(ctx, policySubject, []byte(`{"apiVersion":"invitegate/v1"}`))
	require.NoError(t, err)
	admin.requireDenied(t, eventSubject, false)
	admin.requireDenied(t, "$JS.API.STREAM.DELETE.INVITEGATE_EVENTS", false)

	ingress := n.connect(t, "ingress")
	_, err = natsconn.EnsureEventStream(ctx, ingress.js, natsconn.EventStreamConfig{})
	require.NoError(t, err)
	_, err = ingress.js.Publish(ctx, eventSubject, []byte("{}\n"))
	require.NoError(t, err)
	follow, err := ingress.js.OrderedConsumer(ctx, "INVITEGATE_POLICY", jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	msg, err := follow.Next(jetstream.FetchMaxWait(5 * time.Second))
	require.NoError(t, err)
	require.Equal(t, policySubject, msg.Subject())
	for _, subject := range []string{policySubject, "$JS.API.STREAM.UPDATE.INVITEGATE_POLICY",
		"$JS.API.STREAM.DELETE.INVITEGATE_POLICY", "$JS.API.STREAM.PURGE.INVITEGATE_EVENTS",
		"$JS.API.CONSUMER.DELETE.INVITEGATE_EVENTS.projector"} {
		ingress.requireDenied(t, subject, false)
	}
	ingress.requireDenied(t, "invitegate.events.>", true)

	projector := n.connect(t, "projector")
	_, err = natsconn.EnsureEventStream(ctx, projector.js, natsconn.EventStreamConfig{})
	require.NoError(t, err)
	cons, err := projector.js.CreateOrUpdateConsumer(ctx, decider.EventStream, jetstream.ConsumerConfig{
		Durable: "projector", AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 5,
	})
	require.NoError(t, err)
	msg, err = cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	require.NoError(t, err)
	require.NoError(t, msg.DoubleAck(ctx))
	kv, err := projector.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "INVITEGATE_SNAPSHOT"})
	require.NoError(t, err)
	_, err = kv.Put(ctx, "policy", []byte("compacted"))
	require.NoError(t, err)
	for _, subject := range []string{eventSubject, policySubject, "$JS.API.STREAM.PURGE.INVITEGATE_EVENTS",
		"$JS.API.STREAM.DELETE.INVITEGATE_POLICY"} {
		projector.requireDenied(t, subject, false)
	}

	// Nothing denied got through: one policy event, one invite event.
	for stream, want := range map[string]uint64{"INVITEGATE_POLICY": 1, decider.EventStream: 1} {
		s, err := admin.js.Stream(ctx, stream)
		require.NoError(t, err)
		info, err := s.Info(ctx)
		require.NoError(t, err)
		require.Equal(t, want, info.State.Msgs, stream)
	}
}

// The compose NATS: nats.conf plus the permissions file, laid out as compose
// mounts them, users with the passwords compose gives them.
func TestNATSComposePermissions(t *testing.T) {
	c := loadCompose(t)
	env := c.Services["nats"].Environment
	for k, v := range env {
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	for target, host := range c.Services["nats"].bindMounts() {
		data, err := os.ReadFile(host)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, path.Base(target)), data, 0o600))
	}
	n := startNATS(t, dir, map[string]nats.Option{
		"ingress":      nats.UserInfo("ingress", env["NATS_INGRESS_PASSWORD"]),
		"projector":    nats.UserInfo("projector", env["NATS_PROJECTOR_PASSWORD"]),
		"policy-admin": nats.UserInfo("policy-admin", env["NATS_POLICY_PASSWORD"]),
	})
	require.True(t, n.opts.JetStream)
	require.True(t, n.opts.SyncAlways, "sync_interval: always")
	requirePermissions(t, n)
}

// The Kubernetes NATS: the nats-config ConfigMap as built by kustomize, users
// authenticated by nkey seed files as the pods mount them.
func TestNATSKubernetesPermissions(t *testing.T) {
	b := kustomize(t, "k8s/base")
	dir := t.TempDir()
	for name, data := range b.configData(t, "nats-config") {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600))
	}
	t.Setenv("POD_NAME", "nats-0")
	t.Setenv("SYS_PASSWORD", "sys-test")
	users := map[string]nats.Option{}
	for user, env := range map[string]string{"ingress": "INGRESS_NKEY", "projector": "PROJECTOR_NKEY", "policy-admin": "POLICY_ADMIN_NKEY"} {
		kp, err := nkeys.CreateUser()
		require.NoError(t, err)
		pub, err := kp.PublicKey()
		require.NoError(t, err)
		seed, err := kp.Seed()
		require.NoError(t, err)
		t.Setenv(env, pub)
		seedFile := filepath.Join(dir, user+".nk")
		require.NoError(t, os.WriteFile(seedFile, seed, 0o600))
		users[user], err = nats.NkeyOptionFromSeed(seedFile)
		require.NoError(t, err)
	}
	n := startNATS(t, dir, users)
	require.True(t, n.opts.JetStream)
	require.True(t, n.opts.SyncAlways, "sync_interval: always")
	require.Equal(t, "nats-0", n.opts.ServerName)
	require.Equal(t, "invitegate", n.opts.Cluster.Name)
	require.Len(t, n.opts.Routes, 3)
	requirePermissions(t, n)

	var sts workload
	b.get(t, "StatefulSet", "nats", &sts)
	require.Equal(t, 3, *sts.Spec.Replicas)
	require.Len(t, sts.Spec.VolumeClaimTemplates, 1, "each server keeps its store on a volume")
}
