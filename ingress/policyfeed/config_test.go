package policyfeed

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/natsconn"
)

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c := Config{App: "1"}.withDefaults()
	require.NoError(t, c.validate())
	require.Equal(t, DefaultDataDir, c.DataDir)
	require.Regexp(t, `^[A-Za-z0-9_-]+-\d+$`, c.ReplicaID)
	require.Equal(t, DefaultStatusInterval, c.StatusInterval)
	require.Equal(t, natsconn.DefaultPolicyStatusTTL, c.Stores.StatusTTL)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	bad, err := decider.ParseDocument([]byte("apiVersion: invitegate/v1\nrules: [{name: x, reject: 'operator +'}]\n"))
	require.NoError(t, err)
	cases := map[string]Config{
		"app is required":               {},
		`replica id "a.b"`:              {App: "1", ReplicaID: "a.b"},
		"over half the status TTL":      {App: "1", StatusInterval: time.Minute},
		"retry wait -1s":                {App: "1", RetryWait: -time.Second},
		"request timeout -1s":           {App: "1", RequestTimeout: -time.Second},
		"save interval -1s":             {App: "1", SaveInterval: -time.Second},
		"flush every -1":                {App: "1", FlushEvery: -1},
		"replicas 9":                    {App: "1", Stores: natsconn.PolicyStreamConfig{Replicas: 9}},
		"seed bad.yaml: invalid policy": {App: "1", Seed: bad, SeedSource: "bad.yaml"},
	}
	for want, cfg := range cases {
		err := cfg.withDefaults().validate()
		require.ErrorIs(t, err, ErrInvalidConfig, want)
		require.True(t, strings.Contains(err.Error(), want), "%q does not contain %q", err, want)
	}
	_, err = New(Config{App: "1"}, nil, decider.NewEngine(decider.FailOpen, nil), slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.ErrorContains(t, err, "nil JetStream")
}

func TestModule(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var f *Follower
	app := fx.New(
		fx.NopLogger,
		fx.Supply(Config{App: testApp, DataDir: t.TempDir()}, slog.New(slog.DiscardHandler), decider.NewEngine(decider.FailOpen, nil)),
		fx.Provide(func() jetstream.JetStream { return b.js }),
		fx.Provide(func() prometheus.Registerer { return prometheus.NewRegistry() }),
		Module,
		fx.Populate(&f),
	)
	require.NoError(t, app.Err())
	require.NoError(t, app.Start(t.Context()))
	rev := b.publish(t, replacedBy(parseDoc(t, testPolicy)))
	require.NoError(t, f.WaitRevision(t.Context(), rev))
	require.NoError(t, app.Stop(t.Context()))
}
