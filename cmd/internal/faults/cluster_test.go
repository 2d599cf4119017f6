//go:build faults || soak || cluster

package faults_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/faults"
	"github.com/invitegate/invitegate/deploy"
	"github.com/invitegate/invitegate/migrations/pgtest"
)

// Knobs of the suite, from the environment (make test-faults and .ci/run
// set them; the defaults are the full suite).
var (
	loadRate    = envInt("FAULTS_RATE", 300)                      // callbacks/s of every scenario's load
	outage      = envDuration("FAULTS_OUTAGE", 30*time.Second)    // NATS down, PostgreSQL cut
	drainLimit  = envDuration("FAULTS_DRAIN", 3*time.Minute)      // wait for the stored set to settle
	fuzzBodies  = int64(envInt("FAULTS_FUZZ_BODIES", 1_000_000))  // hostile-clients fuzzed bodies
	maxRSS      = float64(envInt("FAULTS_MAX_RSS_MB", 512)) * 1e6 // hostile-clients memory bound
	projKills   = envInt("FAULTS_PROJECTOR_KILLS", 10)            // projector SIGKILLs
	soakLength  = envDuration("FAULTS_SOAK_DURATION", 30*time.Minute)
	soakRate    = envInt("FAULTS_SOAK_RATE", 1000)
	soakMaxKeys = envInt("FAULTS_SOAK_MAX_KEYS", 300_000) // the projector's --stats-max-keys
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// cluster is one scenario's system: a nats-server child, an ingress child,
// a projector child, a database of its own, optionally a proxy in front of
// PostgreSQL for the projector.
type cluster struct {
	t         *testing.T
	ctx       context.Context
	bins      faults.Binaries
	dir       string
	dsn       string // direct, for the checker
	nats      *faults.NATSServer
	proxy     *faults.PGProxy
	ingress   *faults.Invitegate
	projector *faults.Invitegate
	opts      clusterOptions
	httpAddr  string // the ingress keeps its port across restarts
	panics    panicWatch
}

type clusterOptions struct {
	pgProxy       bool     // the projector reaches PostgreSQL through a PGProxy
	pgDownAtStart bool     // the proxy refuses connections when the projector starts
	policy        string   // the ingress's policy file; "" is the example policy
	ingressArgs   []string // extra flags
	projectorArgs []string // extra flags
	// shipped runs nats-server with the shipped configuration and users:
	// `migrate up` provisions as the migrate user, the ingress and the
	// projector connect as theirs with --no-migrate.
	shipped bool
}

func newCluster(t *testing.T, opts clusterOptions) *cluster {
	t.Helper()
	ctx := t.Context()
	c := &cluster{t: t, ctx: ctx, bins: binaries(t), dir: t.TempDir(), dsn: pgtest.NewDatabase(t),
		opts: opts, httpAddr: "127.0.0.1:0"}
	ncfg := faults.NATSConfig{Binary: c.bins.NATSServer, Dir: filepath.Join(c.dir, "nats"), SyncAlways: true}
	if opts.shipped {
		ncfg.Shipped = deploy.NATSCompose
	}
	ns, err := faults.StartNATSServer(ctx, ncfg)
	require.NoError(t, err)
	c.nats = ns
	t.Cleanup(func() { _ = ns.Stop() })
	if opts.shipped { // the setup step: streams, buckets and schema
		out, err := exec.CommandContext(ctx, c.bins.Invitegate, "migrate", "up", "--database-url", c.dsn,
			"--nats-url", ns.UserURL("migrate")).CombinedOutput()
		require.NoError(t, err, "migrate up as the migrate user: %s", out)
	}
	if opts.pgProxy {
		px, err := faults.NewPGProxy(pgtest.Addr())
		require.NoError(t, err)
		c.proxy = px
		t.Cleanup(px.Close)
		if opts.pgDownAtStart {
			px.Refuse()
		}
	}
	c.startProjector()
	c.startIngress()
	t.Cleanup(func() {
		_ = c.ingress.Kill()
		_ = c.projector.Kill()
		c.panics.check(t)
	})
	return c
}

// startIngress starts (or restarts) the ingress on its port and data dir.
func (c *cluster) startIngress() {
	c.t.Helper()
	policy := c.opts.policy
	if policy == "" {
		policy = policyFile(c.t)
	}
	args := append([]string{"--sdkappid", app, "--policy", policy, "--nats-url", c.nats.UserURL("ingress"),
		"--data-dir", filepath.Join(c.dir, "ingress"), "--http-addr", c.httpAddr, "--admin-addr", "127.0.0.1:0",
		"--insecure-allow-unsigned"},
		c.opts.ingressArgs...)
	if c.opts.shipped {
		args = append(args, "--no-migrate")
	}
	ig, err := faults.StartInvitegate(c.ctx, c.bins.Invitegate, "ingress", c.panics.watch("ingress"), args...)
	require.NoError(c.t, err)
	c.ingress = ig
	c.httpAddr = ig.Callback[len("http://") : len(ig.Callback)-len("/callback")]
}

// startProjector starts (or restarts) the projector.
func (c *cluster) startProjector() {
	c.t.Helper()
	dsn := c.dsn
	if c.proxy != nil {
		var err error
		dsn, err = c.proxy.URL(c.dsn)
		require.NoError(c.t, err)
	}
	args := append([]string{"--nats-url", c.nats.UserURL("projector"), "--database-url", dsn, "--admin-addr", "127.0.0.1:0",
		"--batch-wait", "50ms"}, c.opts.projectorArgs...)
	if c.opts.shipped {
		args = append(args, "--no-migrate")
	}
	p, err := faults.StartInvitegate(c.ctx, c.bins.Invitegate, "projector", c.panics.watch("projector"), args...)
	require.NoError(c.t, err)
	c.projector = p
}

// stored counts the invite and membership rows.
func (c *cluster) stored() int {
	c.t.Helper()
	conn, err := pgx.Connect(c.ctx, c.dsn)
	require.NoError(c.t, err)
	defer conn.Close(context.WithoutCancel(c.ctx))
	var n int
	err = conn.QueryRow(c.ctx, `SELECT (SELECT count(*) FROM invitegate.invite_events) + (SELECT count(*) FROM invitegate.membership_events)`).Scan(&n)
	if err != nil { // before the projector migrated
		return 0
	}
	return n
}

// waitStored waits until at least n rows are stored: the pipeline flows.
func (c *cluster) waitStored(n int) {
	c.t.Helper()
	require.Eventually(c.t, func() bool { return c.stored() >= n }, 2*time.Minute, 100*time.Millisecond,
		"%d rows stored\ningress:\n%s\nprojector:\n%s", n, c.ingress.Tail(4096), c.projector.Tail(4096))
}

// hold lets a fault last d (it waits for nothing: the length is the point).
func hold(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// logf prints a suite line on stdout (the checker lines go there as is).
func logf(format string, args ...any) { fmt.Printf(format+"\n", args...) }
