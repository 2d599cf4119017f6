package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/invitegate/invitegate/migrations/natsconn/natstest"
	"github.com/invitegate/invitegate/migrations/pgtest"
)

// migrate up --nats-url provisions the streams and buckets along with the
// schema, then updates them to new flags; a projector with --no-migrate
// refuses to start on a server where nobody ran it, naming it.
func TestMigrateUpProvisionsNATS(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t, "127.0.0.1:0")
	_, js := natstest.Connect(t, srv)
	dsn := pgtest.NewDatabase(t)

	code, _, stderr := runMain(t, nil, "projector", "--no-migrate", "--nats-url", srv.ClientURL(),
		"--database-url", pgtest.NewMigrated(t), "--admin-addr", "127.0.0.1:0")
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "stream INVITEGATE_EVENTS: not provisioned: run `invitegate migrate up")

	// An ingress with --no-migrate serves its file meanwhile and says what is missing.
	ig := startProcess(t, "ingress", "--sdkappid", demoApp, "--policy", "../../deploy/policy/example.yaml",
		"--insecure-allow-unsigned", "--no-migrate", "--nats-url", srv.ClientURL(), "--policy-start-wait", "10ms",
		"--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	for _, missing := range []string{"stream INVITEGATE_EVENTS: not provisioned: run `invitegate migrate up",
		"stream INVITEGATE_POLICY: not provisioned: run `invitegate migrate up"} {
		require.Eventually(t, func() bool { return strings.Contains(ig.logText(), missing) }, 30*time.Second,
			10*time.Millisecond, "%s\n%s", missing, ig.logText())
	}

	code, out, stderr := runMain(t, nil, "migrate", "status", "--database-url", pgtest.NewMigrated(t), "--nats-url", srv.ClientURL())
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, out, "stream INVITEGATE_EVENTS: missing\nstream INVITEGATE_POLICY: missing\n")

	code, out, stderr = runMain(t, nil, "migrate", "up", "--database-url", dsn, "--nats-url", srv.ClientURL())
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, out, "00001_events.sql")
	require.Contains(t, out, "stream INVITEGATE_EVENTS: created\nstream INVITEGATE_POLICY: created\n"+
		"kv invitegate_policy_status: created\nobject store invitegate_policy_snapshots: created\n")

	// Once provisioned, the waiting ingress follows the (empty) policy log.
	require.Eventually(t, func() bool { return strings.Contains(ig.logText(), "policy log caught up") }, 30*time.Second,
		10*time.Millisecond, ig.logText())

	code, out, stderr = runMain(t, map[string]string{"INVITEGATE_EVENTS_MAX_AGE": "1h"},
		"migrate", "--nats-url", srv.ClientURL(), "up", "--database-url", dsn)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, out, "stream INVITEGATE_EVENTS: updated")
	s, err := js.Stream(t.Context(), decider.EventStream)
	require.NoError(t, err)
	require.Equal(t, time.Hour, s.CachedInfo().Config.MaxAge)
	_, err = natsconn.EnsurePolicyStores(t.Context(), js, natsconn.PolicyStreamConfig{Provision: natsconn.ProvisionNever})
	require.NoError(t, err)
	code, out, stderr = runMain(t, nil, "migrate", "status", "--database-url", dsn, "--nats-url", srv.ClientURL())
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, out, "kv invitegate_policy_status: present\nobject store invitegate_policy_snapshots: present\n")
}
