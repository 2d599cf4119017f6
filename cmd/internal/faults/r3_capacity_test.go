//go:build cluster

package faults_test

import (
	"context"
	"time"

	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/faults"
	"github.com/invitegate/invitegate/cmd/internal/loadgen"
	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/decider/cputime"
)

// capacityFor is the length of each closed-loop fill (CLUSTER_CAPACITY_FOR).
var capacityFor = envDuration("CLUSTER_CAPACITY_FOR", 20*time.Second)

// TestR3Capacity measures the cluster topology's costs (make bench-cluster):
// the ingresses' CPU per callback and the three servers' CPU per event
// stored R3 with fsync while loadgen fills the stream closed-loop with the
// projectors stopped; then the drain rate of one projector, then of two
// together, with the projector's and PostgreSQL's CPU per event. CPU per
// unit is the figure to trust on a shared machine; rates depend on what
// else runs.
func TestR3Capacity(t *testing.T) {
	r := newRig(t)
	for _, p := range r.projectors {
		require.NoError(t, p.Kill())
	}
	events := r.fill()
	one := r.startProjector(0)
	r.drain("one projector", events, one)
	require.NoError(t, one.Kill())
	events = r.fill()
	r.drain("two projectors", events, r.startProjector(0), r.startProjector(1))
}

// fill sends closed-loop load to both ingresses for capacityFor, waits for
// their outboxes to be acknowledged and prints the ingress and NATS costs.
// It returns the events published.
func (r *rig) fill() float64 {
	r.t.Helper()
	ingCPU, natsCPU := r.cpu(ingressPIDs(r)), r.cpu(r.natsPIDs())
	published0 := r.sumIngress("invitegate_events_published_total")
	info0 := r.streamState()
	start := time.Now()
	rep, err := loadgen.Run(r.ctx, loadgen.Config{URL: r.callbacks(), Token: clusterToken, Concurrency: 32, Duration: capacityFor,
		BannedShare: 0.05})
	require.NoError(r.t, err)
	require.Eventually(r.t, func() bool {
		return r.sumIngress("invitegate_outbox_events")+r.sumIngress("invitegate_spool_events") == 0
	}, 2*time.Minute, 50*time.Millisecond, "outboxes never emptied")
	elapsed := time.Since(start)
	ingUsed, natsUsed := r.cpu(ingressPIDs(r))-ingCPU, r.cpu(r.natsPIDs())-natsCPU
	published := r.sumIngress("invitegate_events_published_total") - published0
	info := r.streamState()
	msgs := info.Msgs - info0.Msgs
	logf("cluster: capacity: ingress: %d callbacks answered in %.1fs by 2 replicas (%.0f/s, p99 %.1fms); %.1f µs ingress CPU each: %.0f callbacks/s per ingress core",
		rep.Answered, rep.ElapsedSeconds, rep.AnsweredRate, rep.Latency.P99Ms,
		perUnitUs(ingUsed, float64(rep.Answered)), float64(rep.Answered)/ingUsed.Seconds())
	logf("cluster: capacity: nats R3 fsync: %.0f events in %d messages (%.0f events/message) acknowledged in %.1fs (%.0f events/s); %.1f µs CPU per event summed over the 3 servers: %.0f events/s per server core",
		published, msgs, published/float64(max(msgs, 1)), elapsed.Seconds(), published/elapsed.Seconds(),
		perUnitUs(natsUsed, published), published/natsUsed.Seconds()*3)
	return published
}

// drain waits until the projectors ps have stored events more events and
// prints their rate and the CPU per event of the projectors and of
// PostgreSQL's backends serving them.
func (r *rig) drain(label string, events float64, ps ...*faults.Invitegate) {
	r.t.Helper()
	sum := func() float64 {
		var n float64
		for _, p := range ps {
			v, err := scrapeSum(r.ctx, p, "invitegate_projector_events_total")
			require.NoError(r.t, err)
			n += v
		}
		return n
	}
	pids := make([]int, len(ps))
	for i, p := range ps {
		pids[i] = p.PID()
	}
	projCPU := r.cpu(pids)
	pg0 := r.postgresCPU(nil)
	first, start := sum(), time.Now()
	require.Eventually(r.t, func() bool { return sum() >= events }, 10*time.Minute, 100*time.Millisecond,
		"%s never projected %.0f events", label, events)
	elapsed := time.Since(start)
	done := sum() - first
	pgUsed := r.postgresCPU(pg0).total
	projUsed := r.cpu(pids) - projCPU
	logf("cluster: capacity: %s: %.0f events stored in %.1fs (%.0f events/s; %.0f more before the first scrape); %.1f µs projector CPU and %.1f µs PostgreSQL backend CPU per event",
		label, done, elapsed.Seconds(), done/elapsed.Seconds(), first, perUnitUs(projUsed, sum()), perUnitUs(pgUsed, done))
}

func perUnitUs(d time.Duration, n float64) float64 { return float64(d.Microseconds()) / max(n, 1) }

func ingressPIDs(r *rig) []int {
	pids := make([]int, len(r.ingresses))
	for i, ig := range r.ingresses {
		pids[i] = ig.PID()
	}
	return pids
}

func (r *rig) natsPIDs() []int {
	pids := make([]int, len(r.nats.Nodes))
	for i, n := range r.nats.Nodes {
		pids[i] = n.Process().PID()
	}
	return pids
}

func (r *rig) cpu(pids []int) time.Duration {
	var d time.Duration
	for _, pid := range pids {
		c, _ := cputime.Of(pid) // 0 once the process is gone
		d += c
	}
	return d
}

func (r *rig) sumIngress(metric string) float64 {
	var n float64
	for _, ig := range r.ingresses {
		v, err := scrapeSum(r.ctx, ig, metric)
		require.NoError(r.t, err)
		n += v
	}
	return n
}

type streamState struct{ Msgs uint64 }

func (r *rig) streamState() streamState {
	s, err := r.streams.Stream(r.ctx, decider.EventStream)
	require.NoError(r.t, err)
	return streamState{Msgs: s.CachedInfo().State.Msgs}
}

// pgCPU is the CPU of the PostgreSQL backends serving the rig's database.
type pgCPU struct {
	by    map[int]time.Duration
	total time.Duration // used since the previous reading
}

// postgresCPU reads the CPU of the backends connected to the rig's
// database (other engineers' databases share the server: their backends
// are left out); with prev, total is what they used since.
func (r *rig) postgresCPU(prev *pgCPU) *pgCPU {
	r.t.Helper()
	conn, err := pgx.Connect(r.ctx, r.dsn)
	require.NoError(r.t, err)
	defer conn.Close(context.WithoutCancel(r.ctx))
	rows, err := conn.Query(r.ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
	require.NoError(r.t, err)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(r.t, err)
	out := &pgCPU{by: map[int]time.Duration{}}
	for _, pid := range pids {
		c, _ := cputime.Of(int(pid)) // 0 once the backend is gone
		out.by[int(pid)] = c
		if prev != nil {
			out.total += c - prev.by[int(pid)]
		}
	}
	return out
}
