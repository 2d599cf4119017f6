//go:build cluster

package faults_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/faults"
	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/pgtest"
)

// Knobs of the cluster suite (make test-cluster; make test-cluster-short
// shortens the holds).
var (
	r3Rate      = envInt("CLUSTER_RATE", 2000)                           // callbacks/s of every scenario
	r3Warmup    = envDuration("CLUSTER_WARMUP", 10*time.Second)          // load before the fault
	r3Cooldown  = envDuration("CLUSTER_COOLDOWN", 15*time.Second)        // load after the recovery
	r3KillFor   = envDuration("CLUSTER_KILL_FOR", 10*time.Second)        // leader-sigkill: down this long
	r3Freeze    = envDuration("CLUSTER_FREEZE", 30*time.Second)          // frozen-node: SIGSTOP this long
	r3Quorum    = envDuration("CLUSTER_QUORUM_LOSS", 20*time.Second)     // quorum-loss: two servers down this long
	r3PolicyN   = envInt("CLUSTER_POLICY_CHANGES", 20)                   // policy-during-outage: list adds timed
	r3ProjAfter = envDuration("CLUSTER_PROJECTOR_AFTER", 20*time.Second) // projector-failover: load after the kill
	r3LogDir    = os.Getenv("CLUSTER_LOG_DIR")                           // when set, every child's output is kept there
)

// clusterToken is the callback token the ingresses check and loadgen signs
// with, as IM signs every callback in production.
const clusterToken = "cluster-suite-callback-token"

// rig is one scenario's system: three nats-server children clustered from
// the shipped nats.conf, the schema, streams and buckets (R3) provisioned by
// `invitegate migrate up` as the shipped migrate user, two ingresses and two
// projectors as the shipped users with --no-migrate, a database.
type rig struct {
	t          *testing.T
	ctx        context.Context
	bins       faults.Binaries
	dir        string
	dsn        string
	nats       *faults.NATSCluster
	streams    jetstream.JetStream // the migrate user: reads the streams' state
	ingresses  []*faults.Invitegate
	projectors []*faults.Invitegate
	base       *cluster // for settle
	panics     panicWatch
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := t.Context()
	r := &rig{t: t, ctx: ctx, bins: binaries(t), dir: t.TempDir(), dsn: pgtest.NewDatabase(t)}
	r.base = &cluster{t: t, ctx: ctx, dsn: r.dsn}
	nc, err := faults.StartNATSCluster(ctx, faults.NATSClusterConfig{Binary: r.bins.NATSServer,
		Dir: filepath.Join(r.dir, "nats"), Conf: shippedConf(t)})
	require.NoError(t, err)
	r.nats = nc
	t.Cleanup(nc.Stop)
	r.provision()
	r.applyPolicy()
	for i := range 2 {
		r.projectors = append(r.projectors, r.startProjector(i))
	}
	for i := range 2 {
		r.ingresses = append(r.ingresses, r.startIngress(i))
	}
	t.Cleanup(func() {
		for _, p := range append(r.ingresses, r.projectors...) {
			_ = p.Kill()
		}
		r.keepLogs()
		r.panics.check(t)
	})
	return r
}

// connect opens a connection to the cluster as one of the shipped users.
func (r *rig) connect(user string) *nats.Conn {
	r.t.Helper()
	opt, err := nats.NkeyOptionFromSeed(r.nats.Seeds[user])
	require.NoError(r.t, err)
	nc, err := nats.Connect(r.nats.URLs(), opt, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	require.NoError(r.t, err)
	r.t.Cleanup(nc.Close)
	return nc
}

// provision migrates the schema and creates the streams and buckets R3 the
// way a deployment does (the setup Job): `invitegate migrate up` as the
// shipped migrate user, the only one allowed to create a stream. It retries
// while the cluster elects its meta leader.
func (r *rig) provision() {
	r.t.Helper()
	var out []byte
	err := retryFor(r.ctx, 3*time.Minute, func() error {
		ctx, cancel := context.WithTimeout(r.ctx, time.Minute) // unanswered without a meta leader
		defer cancel()
		var err error
		out, err = exec.CommandContext(ctx, r.bins.Invitegate, append([]string{"migrate", "up",
			"--database-url", r.dsn}, r.natsArgs("migrate")...)...).CombinedOutput()
		return err
	})
	require.NoError(r.t, err, "migrate up:\n%s", out)
	js, err := jetstream.New(r.connect("migrate"))
	require.NoError(r.t, err)
	r.streams = js
	for _, name := range []string{decider.EventStream, decider.PolicyStream} {
		s, err := js.Stream(r.ctx, name)
		require.NoError(r.t, err)
		require.Equal(r.t, 3, s.CachedInfo().Config.Replicas, name)
	}
}

// cli runs the policy command `invitegate args...` as the policy-admin user
// (bounded by 30 s, the --wait excepted) and returns its output.
func (r *rig) cli(args ...string) (string, error) {
	return r.policyAdmin(append(args, "--timeout", "30s", "--author", "cluster-suite")...)
}

// policyAdmin runs `invitegate args...` as the policy-admin user.
func (r *rig) policyAdmin(args ...string) (string, error) {
	args = append(args, "--nats-url", r.nats.URLs(), "--nats-nkey", r.nats.Seeds["policy-admin"],
		"--sdkappid", app, "--js-replicas", "3")
	out, err := exec.CommandContext(r.ctx, r.bins.Invitegate, args...).CombinedOutput()
	return string(out), err
}

func (r *rig) applyPolicy() {
	r.t.Helper()
	out, err := r.cli("policy", "apply", policyFile(r.t))
	require.NoError(r.t, err, out)
}

func (r *rig) natsArgs(user string) []string {
	return []string{"--nats-url", r.nats.URLs(), "--nats-nkey", r.nats.Seeds[user], "--js-replicas", "3"}
}

func (r *rig) startProjector(i int) *faults.Invitegate {
	r.t.Helper()
	args := append(r.natsArgs("projector"), "--no-migrate", "--database-url", r.dsn, "--admin-addr", "127.0.0.1:0",
		"--nats-name", "projector-"+strconv.Itoa(i))
	p, err := faults.StartInvitegate(r.ctx, r.bins.Invitegate, "projector", r.panics.watch("projector"), args...)
	require.NoError(r.t, err)
	return p
}

func (r *rig) startIngress(i int) *faults.Invitegate {
	r.t.Helper()
	name := "ingress-" + strconv.Itoa(i)
	args := append(r.natsArgs("ingress"), "--no-migrate", "--callback-token", clusterToken,
		"--sdkappid", app, "--policy", policyFile(r.t),
		"--data-dir", filepath.Join(r.dir, name), "--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
		"--replica-id", name, "--nats-name", name)
	ig, err := faults.StartInvitegate(r.ctx, r.bins.Invitegate, "ingress", r.panics.watch(name), args...)
	require.NoError(r.t, err)
	require.Eventually(r.t, func() bool { return httpOK("http://" + ig.Admin + "/readyz") }, time.Minute,
		100*time.Millisecond, "%s not ready:\n%s", name, ig.Tail(4096))
	return ig
}

// callbacks is the comma-separated callback URLs of both ingresses (loadgen
// spreads requests over them).
func (r *rig) callbacks() string {
	urls := make([]string, len(r.ingresses))
	for i, ig := range r.ingresses {
		urls[i] = ig.Callback
	}
	return strings.Join(urls, ",")
}

// leader finds the server leading stream, polling while it is elected.
func (r *rig) leader(stream string) int {
	r.t.Helper()
	i := -1
	err := retryFor(r.ctx, time.Minute, func() error {
		var err error
		i, err = r.nats.StreamLeader(r.ctx, stream)
		return err
	})
	require.NoError(r.t, err)
	return i
}

// serverSide sums both ingresses' callback duration histograms: the
// callbacks they handled and how many took longer than 50 ms, 1 s and 2 s
// inside the ingress (loadgen's latency adds the network, the queue and a
// starved client).
func (r *rig) serverSide() (total, over50ms, over1s, over2s float64) {
	for _, ig := range r.ingresses {
		m, err := faults.Scrape(r.ctx, ig.MetricsURL())
		if err != nil {
			continue // a scenario may have killed it
		}
		count := m.Sum("invitegate_callback_duration_seconds_count")
		total += count
		over50ms += count - bucket(m, "0.05")
		over1s += count - bucket(m, "1")
		over2s += count - bucket(m, "2")
	}
	return total, over50ms, over1s, over2s
}

// bucket sums the callback duration histogram's bucket le over its labels.
func bucket(m faults.Metrics, le string) float64 {
	var n float64
	for series, v := range m {
		if strings.HasPrefix(series, "invitegate_callback_duration_seconds_bucket{") && strings.Contains(series, `le="`+le+`"`) {
			n += v
		}
	}
	return n
}

// waitHealthy waits until server i answers /healthz 200: it runs and its
// JetStream is current, which is what a rollout waits for.
func (r *rig) waitHealthy(i int) {
	r.t.Helper()
	require.Eventually(r.t, func() bool { return httpOK(r.nats.Monitor[i] + "/healthz") }, 2*time.Minute,
		100*time.Millisecond, "%s not healthy", r.nats.Names[i])
}

func httpOK(url string) bool {
	resp, err := http.Get(url) //nolint:noctx // a poll with its own deadline
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

var waitLine = regexp.MustCompile(`(\d+) live replicas decide with revision (\d+) after (\S+)`)

// listAdd adds one id to banned_members with --wait and returns how long
// every live replica took to decide with it, as the command printed it.
func (r *rig) listAdd(id string) (time.Duration, int, error) {
	out, err := r.cli("list", "add", "banned_members", id, "--wait", "--wait-timeout", "20s")
	if err != nil {
		return 0, 0, fmt.Errorf("list add: %w: %s", err, out)
	}
	m := waitLine.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("list add: no wait line in %q", out)
	}
	d, err := time.ParseDuration(m[3])
	live, _ := strconv.Atoi(m[1])
	return d, live, err
}

// keepLogs writes every child's output under CLUSTER_LOG_DIR/<test>/.
func (r *rig) keepLogs() {
	if r3LogDir == "" {
		return
	}
	dir := filepath.Join(r3LogDir, r.t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.t.Logf("keep logs: %v", err)
		return
	}
	procs := map[string]*faults.Process{}
	for i, n := range r.nats.Nodes {
		if p := n.Process(); p != nil {
			procs[r.nats.Names[i]] = p
		}
	}
	for i, p := range r.ingresses {
		procs["ingress-"+strconv.Itoa(i)] = p.Process
	}
	for i, p := range r.projectors {
		procs["projector-"+strconv.Itoa(i)] = p.Process
	}
	for name, p := range procs {
		if err := os.WriteFile(filepath.Join(dir, name+".log"), []byte(p.Logs()), 0o644); err != nil {
			r.t.Logf("keep logs: %v", err)
		}
	}
}
