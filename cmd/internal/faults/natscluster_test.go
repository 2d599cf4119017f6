package faults_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/faults"
	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/natsconn"
)

func shippedConf(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../../deploy/k8s/base/nats.conf")
	require.NoError(t, err)
	return p
}

// Three servers from the shipped configuration form a cluster: an R3
// stream created as the migrate user has a leader, and losing that
// leader leaves a quorum that elects another and acknowledges publishes.
func TestNATSClusterFromShippedConfig(t *testing.T) {
	t.Parallel()
	bin := binaries(t).NATSServer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	c, err := faults.StartNATSCluster(ctx, faults.NATSClusterConfig{Binary: bin, Dir: dir, Conf: shippedConf(t)})
	require.NoError(t, err)
	t.Cleanup(c.Stop)
	require.Len(t, c.Nodes, 3)
	conf, err := os.ReadFile(filepath.Join(dir, "nats-0", "nats.conf"))
	require.NoError(t, err)
	require.Contains(t, string(conf), "sync_interval: always", "the shipped JetStream settings are kept")
	require.NotContains(t, string(conf), "nats-headless", "every route points at a local server")
	require.FileExists(t, filepath.Join(dir, "nats-0", "nats-permissions.conf"))

	js := connectAs(t, c, "migrate")                               // provisions
	ingress := connectAs(t, c, "ingress")                          // publishes events
	require.NoError(t, retryFor(ctx, 2*time.Minute, func() error { // while the meta leader is elected
		actx, cancel := context.WithTimeout(ctx, 5*time.Second) // unanswered without a meta leader
		defer cancel()
		_, err := natsconn.EnsureEventStream(actx, js, natsconn.EventStreamConfig{Replicas: 3})
		return err
	}), "create the stream R3")
	leader := -1
	require.NoError(t, retryFor(ctx, time.Minute, func() error {
		leader, err = c.StreamLeader(ctx, decider.EventStream)
		return err
	}))

	require.NoError(t, c.Nodes[leader].Kill())
	require.Eventually(t, func() bool {
		i, err := c.StreamLeader(ctx, decider.EventStream)
		return err == nil && i != leader
	}, time.Minute, 100*time.Millisecond, "no new leader after %s was killed", c.Names[leader])
	require.NoError(t, retryFor(ctx, time.Minute, func() error { // a publish lost in the election is not answered
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := ingress.Publish(actx, decider.EventSubject(app, decider.KindInvite), []byte("{}\n"))
		return err
	}), "publish with one server down")
}

// connectAs connects to the cluster as one of the shipped users.
func connectAs(t *testing.T, c *faults.NATSCluster, user string) jetstream.JetStream {
	t.Helper()
	opt, err := nats.NkeyOptionFromSeed(c.Seeds[user])
	require.NoError(t, err)
	nc, err := nats.Connect(c.URLs(), opt, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// TemplateNATSConf refuses a configuration that lacks a setting it must
// fill in, rather than start a server with the wrong address.
func TestTemplateNATSConfNeedsEverySetting(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(shippedConf(t))
	require.NoError(t, err)
	c, err := faults.StartNATSCluster(context.Background(), faults.NATSClusterConfig{Binary: "/nonexistent",
		Dir: t.TempDir(), Conf: writeTemp(t, strings.Replace(string(src), "pid_file:", "# pid_file:", 1))})
	require.ErrorContains(t, err, "no line matches")
	require.Nil(t, c)
}

func writeTemp(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "nats.conf")
	require.NoError(t, os.WriteFile(p, []byte(s), 0o600))
	return p
}

// retryFor calls fn every 200 ms until it succeeds or d passes, and
// returns its last error.
func retryFor(ctx context.Context, d time.Duration, fn func() error) error {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := fn()
		if err == nil {
			return nil
		}
		select {
		case <-deadline.C:
			return err
		case <-ctx.Done():
			return err
		case <-tick.C:
		}
	}
}
