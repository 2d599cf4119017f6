package policyfeed_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
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
)

const benchApp = "1400000000"

// benchServer starts a JetStream server listening on a free TCP port and
// returns a function connecting a new client to it, as each ingress
// replica has its own connection.
func benchServer(b *testing.B) func() jetstream.JetStream {
	b.Helper()
	srv := natstest.Start(b, "127.0.0.1:0")
	return func() jetstream.JetStream {
		_, js := natstest.Dial(b, srv.ClientURL())
		return js
	}
}

func benchFollower(b *testing.B, js jetstream.JetStream, id string) *policyfeed.Follower {
	b.Helper()
	return benchFollowerTrust(b, js, id, nil)
}

func benchFollowerTrust(b *testing.B, js jetstream.JetStream, id string, trust *decider.Trust) *policyfeed.Follower {
	b.Helper()
	f, err := policyfeed.New(policyfeed.Config{App: benchApp, DataDir: b.TempDir(), ReplicaID: id,
		StatusInterval: time.Second, Trust: trust}, js, decider.NewEngine(decider.FailOpen, nil), slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(b, err)
	require.NoError(b, f.Start(context.Background()))
	b.Cleanup(func() { _ = f.Stop(context.Background()) })
	return f
}

// benchDoc is the shipped example policy with an error code that changes
// with i, so every apply is a different document to compile.
func benchDoc(b *testing.B, i int) *decider.Document {
	b.Helper()
	doc, err := decider.ParseDocument([]byte(fmt.Sprintf(`apiVersion: invitegate/v1
lists:
  banned_operators: [spammer1, spammer2]
  banned_members: []
  staff: [admin, support]
rules:
  - name: banned-operator
    reject: operator in lists.banned_operators
    error_code: %d
    error_info: "You cannot invite users right now."
  - name: community-staff-only
    reject: group.type == "Community" && !(operator in lists.staff)
  - name: banned-member
    refuse_member: member in lists.banned_members
  - name: no-staff-via-rest
    refuse_member: platform == "RESTAPI" && member in lists.staff
  - name: no-self-invite
    refuse_member: member == operator
    mode: shadow
`, 10100+i%100)))
	require.NoError(b, err)
	return doc
}

func reportPercentiles(b *testing.B, name string, ds []time.Duration) {
	slices.Sort(ds)
	at := func(p float64) float64 {
		return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), name+"-p50-ms")
	b.ReportMetric(at(0.99), name+"-p99-ms")
	b.ReportMetric(at(1), name+"-max-ms")
}

// BenchmarkPropagation measures, with three ingress replicas (each with
// its own NATS connection), the time from `policy apply` returning (the
// publish acknowledged) to all three deciding with the new revision
// ("decide"), and to all three having reported it in the status bucket,
// which is what `policy apply --wait` waits for ("wait").
//
// "unsigned" runs without trust; "signed" signs every event and runs the
// replicas with --policy-trust, so one run gives the cost of verification.
func BenchmarkPropagation(b *testing.B) {
	b.Run("unsigned", func(b *testing.B) { benchPropagation(b, false) })
	b.Run("signed", func(b *testing.B) { benchPropagation(b, true) })
}

func benchPropagation(b *testing.B, signed bool) {
	connect := benchServer(b)
	ctx := context.Background()
	log, err := policystore.OpenLog(ctx, connect(), benchApp, natsconn.PolicyStreamConfig{})
	require.NoError(b, err)
	var trust *decider.Trust
	if signed {
		key, err := decider.GenerateSigningKey()
		require.NoError(b, err)
		trust, err = decider.ParseTrust([]byte(decider.AuthorizedKey(key.Public(), "bench")), "bench")
		require.NoError(b, err)
		log = log.WithSigner(key)
	}
	_, err = log.Publish(ctx, &decider.Change{Kind: decider.ChangeReplaced, Document: benchDoc(b, 0)})
	require.NoError(b, err)
	var replicas []*policyfeed.Follower
	for i := range 3 {
		f := benchFollowerTrust(b, connect(), fmt.Sprintf("r%d", i), trust)
		<-f.CaughtUp()
		replicas = append(replicas, f)
	}
	var decide, wait []time.Duration
	docs := []*decider.Document{benchDoc(b, 1), benchDoc(b, 2)}
	i := 0
	for b.Loop() {
		i++
		rev, err := log.Publish(ctx, &decider.Change{Kind: decider.ChangeReplaced, Document: docs[i%2]})
		require.NoError(b, err)
		published := time.Now()
		for _, f := range replicas {
			require.NoError(b, f.WaitRevision(ctx, rev))
		}
		decide = append(decide, time.Since(published))
		_, err = log.WaitRevision(ctx, rev, 10*time.Second)
		require.NoError(b, err)
		wait = append(wait, time.Since(published))
		for _, f := range replicas {
			require.Equal(b, rev, f.Revision())
		}
	}
	reportPercentiles(b, "decide", decide)
	reportPercentiles(b, "wait", wait)
}
