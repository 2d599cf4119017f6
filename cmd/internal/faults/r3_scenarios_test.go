//go:build cluster

package faults_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/faults"
	"github.com/invitegate/invitegate/cmd/internal/loadgen"
	"github.com/invitegate/invitegate/decider"
)

// r3Run is one scenario run: the instants of its faults (the latency
// figure outside them leaves out the second after each) and its policy
// changes.
type r3Run struct {
	name string
	// policyMust: every policy change must reach both ingresses.
	policyMust bool
	marks      []time.Time
	first      time.Time // the first mark (read by a change running alongside the fault)
	policy     []time.Duration
	pErrors    []string
	notes      []string
}

func (run *r3Run) mark() {
	now := time.Now()
	if len(run.marks) == 0 {
		run.first = now
	}
	run.marks = append(run.marks, now)
}
func (run *r3Run) note(format string, args ...any) {
	run.notes = append(run.notes, fmt.Sprintf(format, args...))
}

// changePolicy adds an id to a list with --wait and records how long both
// ingresses took to decide with it (or why it failed).
func (run *r3Run) changePolicy(r *rig) {
	n, start := len(run.policy)+len(run.pErrors), time.Now()
	d, live, err := r.listAdd(fmt.Sprintf("%s-%d", run.name, n))
	switch {
	case err != nil:
		run.pErrors = append(run.pErrors, fmt.Sprintf("change %d (%.1fs after the first fault, failed after %.1fs): %v",
			n, time.Since(run.first).Seconds(), time.Since(start).Seconds(), err))
	case live != len(r.ingresses):
		run.pErrors = append(run.pErrors, fmt.Sprintf("change %d: %d live replicas, want %d", n, live, len(r.ingresses)))
	default:
		run.policy = append(run.policy, d)
	}
}

// changePolicyDuring starts changePolicy alongside the fault, so that a
// slow change does not stretch the fault's schedule; the returned function
// waits for it.
func (run *r3Run) changePolicyDuring(r *rig) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		run.changePolicy(r)
	}()
	return func() { <-done }
}

// scenario runs load at r3Rate for warmup + faultFor + cooldown, the fault
// after warmup, then waits for the stored set to settle, prints the checker
// line and the figures, and fails on loss, duplicates, unexpected rows or
// an unanswered callback.
func scenario(t *testing.T, name string, faultFor time.Duration, fault func(r *rig, run *r3Run)) {
	r := newRig(t)
	run := &r3Run{name: name}
	load := startLoadTo(t, r.ctx, loadgen.Config{URL: r.callbacks(), Token: clusterToken, Rate: float64(r3Rate),
		Duration: r3Warmup + faultFor + r3Cooldown, Concurrency: 512})
	hold(r.ctx, r3Warmup)
	fault(r, run)
	recs := load.wait(t)
	ended := time.Now()
	total, over50ms, over1s, over2s := r.serverSide()
	run.note("inside the ingresses: %.0f callbacks, %.0f over 50ms, %.0f over 1s, %.0f over 2s", total, over50ms, over1s, over2s)
	res := r.base.settleWithin(recs, 30*time.Second, drainLimit)
	run.note("settled %.1fs after the load", time.Since(ended).Seconds())
	report(t, run, recs, res)
	if run.policyMust {
		require.Empty(t, run.pErrors, "policy changes that did not reach both ingresses")
	}
	require.Zero(t, res.Lost, "lost: %q", res.Examples)
	require.Zero(t, res.Duplicated, "duplicated: %q", res.Examples)
	require.Zero(t, res.Unexpected, "unexpected: %q", res.Examples)
	require.Zero(t, res.UnansweredTotal(), "unanswered: %s", res.Detail())
}

// report prints the checker line and a line of figures.
func report(t *testing.T, run *r3Run, recs []loadgen.Record, res faults.Result) {
	logf("%s", strings.Replace(res.Line(run.name), "faults: ", "cluster: ", 1))
	all, outside, over := latencies(recs, run.marks)
	logf("cluster: %s: latency p50=%s p99=%s max=%s p99_outside_fault_seconds=%s over_2s=%d unanswered=%d",
		run.name, pct(all, 50), pct(all, 99), pct(all, 100), pct(outside, 99), over, res.UnansweredTotal())
	if len(run.policy)+len(run.pErrors) > 0 {
		slices.Sort(run.policy)
		first := ""
		if len(run.pErrors) > 0 {
			first = run.pErrors[0]
		}
		logf("cluster: %s: policy --wait n=%d p50=%s p99=%s max=%s errors=%d first_error=%q", run.name, len(run.policy),
			durPct(run.policy, 50), durPct(run.policy, 99), durPct(run.policy, 100), len(run.pErrors), first)
	}
	for _, n := range run.notes {
		logf("cluster: %s: %s", run.name, n)
	}
	t.Logf("%s: %s", run.name, res.Detail())
}

// latencies returns the sorted latencies (µs) of answered records, the same
// without those due in the second after a fault mark, and how many answered
// records took over 2 s.
func latencies(recs []loadgen.Record, marks []time.Time) (all, outside []int64, over int) {
	for i := range recs {
		rec := &recs[i]
		if !rec.Answered() {
			continue
		}
		all = append(all, rec.LatencyUs)
		if rec.LatencyUs > 2e6 {
			over++
		}
		near := false
		for _, m := range marks {
			if d := rec.Intended.Sub(m); d >= -100*time.Millisecond && d < time.Second {
				near = true
			}
		}
		if !near {
			outside = append(outside, rec.LatencyUs)
		}
	}
	slices.Sort(all)
	slices.Sort(outside)
	return all, outside, over
}

func pct(sorted []int64, p int) string {
	if len(sorted) == 0 {
		return "n/a"
	}
	i := min(len(sorted)-1, len(sorted)*p/100)
	return fmt.Sprintf("%.1fms", float64(sorted[i])/1e3)
}

func durPct(sorted []time.Duration, p int) string {
	if len(sorted) == 0 {
		return "n/a"
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)].Round(100 * time.Microsecond).String()
}

// electedAfter polls until stream has a leader other than old and returns
// how long that took from since.
func (r *rig) electedAfter(stream string, old int, since time.Time) time.Duration {
	r.t.Helper()
	require.Eventually(r.t, func() bool { return r.leader(stream) != old }, time.Minute, 50*time.Millisecond)
	return time.Since(since)
}

// SIGKILL the server that leads INVITEGATE_EVENTS, restart it 10 s later.
func TestClusterLeaderSIGKILL(t *testing.T) {
	scenario(t, "leader-sigkill", r3KillFor+5*time.Second, func(r *rig, run *r3Run) {
		i := r.leader(decider.EventStream)
		run.mark()
		require.NoError(t, r.nats.Nodes[i].Kill())
		run.note("killed %s (leader of %s); new leader elected after %s", r.nats.Names[i], decider.EventStream,
			r.electedAfter(decider.EventStream, i, run.marks[0]).Round(time.Millisecond))
		changed := run.changePolicyDuring(r)
		hold(r.ctx, r3KillFor-time.Since(run.marks[0]))
		require.NoError(t, r.nats.Nodes[i].Start(r.ctx))
		r.waitHealthy(i)
		run.note("%s back and current %.1fs after the kill", r.nats.Names[i], time.Since(run.marks[0]).Seconds())
		changed()
	})
}

// Restart the three servers one at a time in lame duck mode, highest
// ordinal first, each once the previous one is healthy: a StatefulSet
// rollout with the shipped preStop hook.
func TestClusterRollingRestart(t *testing.T) {
	const ld = 30 * time.Second // the shipped lame_duck_duration
	// A server leaves lame duck mode once its last client is gone, well
	// before the duration (12-15 s here), and is healthy again about 20 s
	// after its SIGUSR2.
	scenario(t, "rolling-restart", 3*(ld/2+10*time.Second), func(r *rig, run *r3Run) {
		for i := len(r.nats.Nodes) - 1; i >= 0; i-- {
			n := r.nats.Nodes[i]
			run.mark()
			start := time.Now()
			require.NoError(t, n.LameDuck())
			select {
			case <-n.Process().Exited():
			case <-time.After(ld + time.Minute):
				require.Failf(t, "lame duck", "%s still running %s after SIGUSR2", r.nats.Names[i], ld+time.Minute)
			}
			stopped := time.Since(start)
			require.NoError(t, n.Start(r.ctx))
			r.waitHealthy(i)
			run.note("%s: lame duck exit after %.1fs, healthy again after %.1fs", r.nats.Names[i],
				stopped.Seconds(), time.Since(start).Seconds())
			run.changePolicy(r)
		}
	})
}

// SIGSTOP the leader of INVITEGATE_EVENTS for 30 s, then SIGCONT.
func TestClusterFrozenNode(t *testing.T) {
	scenario(t, "frozen-node", r3Freeze, func(r *rig, run *r3Run) {
		i := r.leader(decider.EventStream)
		run.mark()
		require.NoError(t, r.nats.Nodes[i].Pause())
		run.note("froze %s (leader of %s); new leader elected after %s", r.nats.Names[i], decider.EventStream,
			r.electedAfter(decider.EventStream, i, run.marks[0]).Round(time.Millisecond))
		changed := run.changePolicyDuring(r)
		hold(r.ctx, r3Freeze-time.Since(run.marks[0]))
		require.NoError(t, r.nats.Nodes[i].Resume())
		run.mark()
		r.waitHealthy(i)
		run.note("%s current again %.1fs after SIGCONT", r.nats.Names[i], time.Since(run.marks[1]).Seconds())
		changed()
	})
}

// SIGKILL two of the three servers (the leader and one other) for 20 s:
// no quorum, no PubAck; the ingresses answer every callback and spool the
// events, which land once the servers are back.
func TestClusterQuorumLoss(t *testing.T) {
	scenario(t, "quorum-loss", r3Quorum+5*time.Second, func(r *rig, run *r3Run) {
		i := r.leader(decider.EventStream)
		j := (i + 1) % len(r.nats.Nodes)
		run.mark()
		require.NoError(t, r.nats.Nodes[i].Kill())
		require.NoError(t, r.nats.Nodes[j].Kill())
		hold(r.ctx, r3Quorum)
		for _, k := range []int{i, j} {
			require.NoError(t, r.nats.Nodes[k].Start(r.ctx))
		}
		run.mark()
		for _, k := range []int{i, j} {
			r.waitHealthy(k)
		}
		run.note("killed %s and %s for %s; both current %.1fs after the restart", r.nats.Names[i], r.nats.Names[j],
			r3Quorum, time.Since(run.marks[1]).Seconds())
		run.changePolicy(r)
	})
}

// SIGKILL the server ingress-0 is connected to (a replica of every stream;
// when it leads INVITEGATE_POLICY, a new leader is elected), then change a
// list again and again with --wait: both ingresses must decide with each
// change, the one that lost its server included.
func TestClusterPolicyDuringOutage(t *testing.T) {
	scenario(t, "policy-during-outage", time.Duration(r3PolicyN)*time.Second, func(r *rig, run *r3Run) {
		var i int
		require.NoError(t, retryFor(r.ctx, time.Minute, func() error {
			var err error
			i, err = r.nats.ServerOf(r.ctx, "ingress-0")
			return err
		}))
		leader := r.leader(decider.PolicyStream)
		run.mark()
		require.NoError(t, r.nats.Nodes[i].Kill())
		if i == leader {
			run.note("killed %s (ingress-0's server, leader of %s); new leader elected after %s", r.nats.Names[i],
				decider.PolicyStream, r.electedAfter(decider.PolicyStream, i, run.marks[0]).Round(time.Millisecond))
		} else {
			run.note("killed %s (ingress-0's server; %s leads %s)", r.nats.Names[i], r.nats.Names[leader], decider.PolicyStream)
		}
		require.NoError(t, retryFor(r.ctx, time.Minute, func() error {
			out, err := r.policyAdmin("list", "show", "banned_members", "--timeout", "5s")
			if err != nil {
				return fmt.Errorf("%w: %s", err, out)
			}
			return nil
		}), "the policy log is never readable with %s down", r.nats.Names[i])
		run.note("policy log readable %.1fs after the kill", time.Since(run.first).Seconds())
		for range r3PolicyN {
			run.changePolicy(r)
		}
		require.NoError(t, r.nats.Nodes[i].Start(r.ctx))
		r.waitHealthy(i)
		run.policyMust = true
	})
}

// SIGKILL one of the two projectors while it writes; the other carries on
// alone and everything is stored.
func TestClusterProjectorFailover(t *testing.T) {
	scenario(t, "projector-failover", r3ProjAfter, func(r *rig, run *r3Run) {
		before, err := scrapeSum(r.ctx, r.projectors[0], "invitegate_projector_events_total")
		require.NoError(t, err)
		run.mark()
		require.NoError(t, r.projectors[0].Kill())
		run.note("killed projector-0 after it had projected %.0f events", before)
		hold(r.ctx, r3ProjAfter)
	})
}
