//go:build faults

package faults_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/faults"
	"github.com/invitegate/invitegate/cmd/internal/loadgen"
)

// While the ingress is down, IM's requests find no listener: those are the
// only unanswered requests the ingress scenarios tolerate (IM then applies
// its failure policy). A timeout, a 5xx or a bad body is never tolerated.
var downtimeErrors = []string{loadgen.ErrConnection}

// spoolBytes is the size of the ingress's spool segments.
func (c *cluster) spoolBytes() int64 { return c.spoolFiles("*.seg") }

// ackBytes is the size of the ingress's spool ack files.
func (c *cluster) ackBytes() int64 { return c.spoolFiles("*.ack") }

// spoolFiles is the size of the ingress's spool files matching pattern.
func (c *cluster) spoolFiles(pattern string) int64 {
	segs, _ := filepath.Glob(filepath.Join(c.dir, "ingress", "spool", pattern))
	var n int64
	for _, s := range segs {
		if fi, err := os.Stat(s); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// restartIngress stops the ingress with stop, starts it again on the same
// port and data dir, and logs how long each took.
func (c *cluster) restartIngress(stop func() error) {
	c.t.Helper()
	began := time.Now()
	require.NoError(c.t, stop(), c.ingress.Tail(4096))
	stopped := time.Now()
	c.startIngress()
	c.t.Logf("ingress stopped in %s, listening again %s later", stopped.Sub(began), time.Since(stopped))
}

// Scenario 4: the ingress sent SIGTERM under load and restarted, twice:
// once with NATS up (the outbox flushes), once with NATS paused (the flush
// times out and the rest goes to the spool, replayed by the next process).
func TestFaultIngressTerminated(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{ingressArgs: []string{"--outbox-flush-timeout", "2s"}})
	load := c.startLoad(loadRate, 40*time.Second)
	c.waitStored(2 * loadRate)

	c.restartIngress(func() error { return c.ingress.Terminate(time.Minute) })
	c.waitStored(c.stored() + 2*loadRate)

	require.NoError(t, c.nats.Pause())
	hold(c.ctx, time.Second) // a second of events waits for PubAcks that cannot come
	began := time.Now()
	require.NoError(t, c.ingress.Terminate(time.Minute), c.ingress.Tail(4096))
	t.Logf("ingress stopped in %s with NATS paused", time.Since(began))
	spooled := c.spoolBytes()
	require.NoError(t, c.nats.Resume())
	logf("faults: ingress-sigterm: second SIGTERM with NATS paused left %d spool bytes", spooled)
	require.Positive(t, spooled, "the unacknowledged events went to the spool\n%s", c.ingress.Tail(4096))
	c.startIngress()

	records := load.wait(t)
	verdict(t, "ingress-sigterm", c.settle(records, 0), expectation{unanswered: downtimeErrors})
}

// Scenario 5: the ingress killed with SIGKILL under load and restarted,
// three times, with sync event durability: a callback is answered only once
// its event is acknowledged by JetStream or fsynced to the spool, so nothing
// answered is lost.
func TestFaultIngressKilled(t *testing.T) {
	t.Parallel()
	res := ingressKills(t, "sync")
	verdict(t, "ingress-sigkill", res, expectation{unanswered: downtimeErrors})
}

// Scenario 5, async: the same kills with async event durability. Events
// still in the outbox's memory die with the process: the checker's lost
// count is that number, reported, not failed, and kept in the manuals.
func TestFaultIngressKilledAsync(t *testing.T) {
	t.Parallel()
	res := ingressKills(t, "async")
	logf("faults: ingress-sigkill-async: %d answered callbacks lost with the in-memory outbox over %d SIGKILLs", res.Lost, ingressKillCount)
	verdict(t, "ingress-sigkill-async", res, expectation{lostAllowed: true, unanswered: downtimeErrors})
}

const ingressKillCount = 3

// ingressKills runs the SIGKILL scenario with the given --event-durability.
func ingressKills(t *testing.T, durability string) faults.Result {
	c := newCluster(t, clusterOptions{ingressArgs: []string{"--event-durability", durability}})
	load := c.startLoad(loadRate, ingressKillCount*8*time.Second+8*time.Second)
	for range ingressKillCount {
		c.waitStored(c.stored() + 2*loadRate)
		c.restartIngress(c.ingress.Kill)
	}
	records := load.wait(t)
	if durability == "sync" {
		return c.settle(records, 0)
	}
	// With events lost, Lost never reaches 0: settle once nothing changes.
	return c.settle(records, 15*time.Second)
}
