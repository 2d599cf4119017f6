package natsconn

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

func TestEnsurePolicyStoresIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setup(t, EmbeddedConfig{})
	ctx := t.Context()
	st, err := EnsurePolicyStores(ctx, b.js, PolicyStreamConfig{})
	require.NoError(t, err)
	info, err := st.Stream.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, decider.PolicyStream, info.Config.Name)
	require.Equal(t, []string{decider.PolicySubjects}, info.Config.Subjects)
	require.Zero(t, info.Config.MaxAge, "kept for ever")
	require.True(t, info.Config.DenyDelete)
	require.True(t, info.Config.DenyPurge)
	require.Equal(t, DefaultPolicyDuplicates, info.Config.Duplicates)

	_, err = b.js.Publish(ctx, decider.PolicySubject("1", decider.ChangeReplaced), []byte(`{}`))
	require.NoError(t, err)
	require.Error(t, st.Stream.Purge(ctx), "the audit log cannot be purged")

	st2, err := EnsurePolicyStores(ctx, b.js, PolicyStreamConfig{StatusTTL: 30 * time.Second, Provision: ProvisionUpdate})
	require.NoError(t, err)
	info, err = st2.Stream.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(1), info.State.Msgs, "ensuring again keeps the log")
	kvs, err := st2.Status.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, 30*time.Second, kvs.TTL())
	_, err = st2.Snapshots.PutBytes(ctx, "x", []byte("y"))
	require.NoError(t, err)
}

func TestPolicyStreamConfigValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, PolicyStreamConfig{}.Validate())
	for cfg, want := range map[PolicyStreamConfig]string{
		{Replicas: 6}:                 "replicas 6",
		{Duplicates: -time.Second}:    "duplicate window -1s",
		{StatusTTL: time.Millisecond}: "TTL 1ms",
	} {
		err := cfg.Validate()
		require.ErrorIs(t, err, ErrInvalidConfig)
		require.Contains(t, err.Error(), want)
		_, err = EnsurePolicyStores(t.Context(), nil, cfg)
		require.ErrorIs(t, err, ErrInvalidConfig)
	}
	require.Equal(t, jetstream.FileStorage, PolicyStreamConfig{}.StreamConfig().Storage)
}
