package main

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/ingress/policyfeed"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/invitegate/invitegate/migrations/natsconn/natstest"
	"github.com/invitegate/invitegate/migrations/policystore"
	"github.com/invitegate/invitegate/projector/policylog"
)

// The restart benchmark needs both sides of the policy log: the projector's
// compactor writes the snapshot an ingress replica starts from, so it lives
// here, where the two are composed.

// restartServer starts a JetStream server listening on a free TCP port and
// returns a function connecting a new client to it, as each ingress
// replica has its own connection.
func restartServer(b *testing.B) func() jetstream.JetStream {
	b.Helper()
	srv := natstest.Start(b, "127.0.0.1:0")
	return func() jetstream.JetStream {
		_, js := natstest.Dial(b, srv.ClientURL())
		return js
	}
}

// restartFollower starts an ingress replica's follower with an empty data
// dir; it is stopped at cleanup (the benchmark also stops it).
func restartFollower(b *testing.B, js jetstream.JetStream) *policyfeed.Follower {
	b.Helper()
	f, err := policyfeed.New(policyfeed.Config{App: demoApp, DataDir: b.TempDir(), ReplicaID: "restart",
		StatusInterval: time.Second}, js, decider.NewEngine(decider.FailOpen, nil), slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(b, err)
	require.NoError(b, f.Start(context.Background()))
	b.Cleanup(func() { _ = f.Stop(context.Background()) })
	return f
}

// restartDoc is the command tests' policy.
func restartDoc(b *testing.B) *decider.Document {
	b.Helper()
	doc, err := decider.ParseDocument([]byte(cliPolicy))
	require.NoError(b, err)
	return doc
}

// BenchmarkRestart measures how long an ingress replica takes, from Start
// with an empty data dir, to have applied a log of 100,000 events: with
// the projector's compacted snapshot ("compacted": snapshot plus the
// events after it) and without ("full-replay").
func BenchmarkRestart(b *testing.B) {
	const events = 100_000
	connect := restartServer(b)
	ctx := context.Background()
	js := connect()
	log, err := policystore.OpenLog(ctx, js, demoApp, natsconn.PolicyStreamConfig{})
	require.NoError(b, err)
	publishHistory(b, js, log, events)
	head, err := log.Head(ctx)
	require.NoError(b, err)

	restart := func(b *testing.B) {
		for b.Loop() {
			f := restartFollower(b, connect())
			<-f.CaughtUp()
			require.Equal(b, head, f.Revision())
			require.NoError(b, f.Stop(ctx))
		}
	}
	b.Run("full-replay", restart)

	c, err := policylog.NewCompactor(policylog.Config{CompactEvery: events}, js, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(b, err)
	require.NoError(b, c.Start(ctx))
	require.Eventually(b, func() bool { return c.Compacted() >= head-10 }, 5*time.Minute, 10*time.Millisecond)
	require.NoError(b, c.Stop(ctx))
	b.Run("compacted", restart)
}

// publishHistory publishes n events: a policy, then list changes of a few
// ids each and a new document every 1,000 events.
func publishHistory(b *testing.B, js jetstream.JetStream, log *policystore.Log, n int) {
	b.Helper()
	ctx := context.Background()
	_, err := log.Publish(ctx, &decider.Change{Kind: decider.ChangeReplaced, Document: restartDoc(b)})
	require.NoError(b, err)
	var acks []jetstream.PubAckFuture
	for i := 1; i < n; i++ {
		c := &decider.Change{Kind: decider.ChangeListAdded, List: "banned",
			IDs: []string{fmt.Sprintf("u%07d", i), fmt.Sprintf("v%07d", i)}}
		if i%3 == 0 {
			c.Kind, c.IDs = decider.ChangeListRemoved, c.IDs[:1]
		}
		if i%1000 == 0 {
			c = &decider.Change{Kind: decider.ChangeReplaced, Document: restartDoc(b)}
		}
		data, err := c.Marshal()
		require.NoError(b, err)
		f, err := js.PublishAsync(decider.PolicySubject(demoApp, c.Kind), data)
		require.NoError(b, err)
		if acks = append(acks, f); len(acks) == 2000 || i == n-1 {
			for _, a := range acks {
				select {
				case <-a.Ok():
				case err := <-a.Err():
					b.Fatal(err)
				}
			}
			acks = acks[:0]
		}
	}
}
