//go:build faults

package faults_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Scenario 1: the nats-server killed with SIGKILL for the outage (30 s),
// restarted on the same store. Every callback is answered meanwhile (the
// outbox holds the events) and every event lands once.
func TestFaultNATSKilled(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	load := c.startLoad(loadRate, 10*time.Second+outage+15*time.Second)
	c.waitStored(2 * loadRate)

	require.NoError(t, c.nats.Kill())
	logf("faults: nats-sigkill: nats-server killed, down for %s", outage)
	hold(c.ctx, outage)
	require.NoError(t, c.nats.Start(c.ctx))

	records := load.wait(t)
	verdict(t, "nats-sigkill", c.settle(records, 0), expectation{})
}

// Scenario 2: the projector killed with SIGKILL mid-batch, ten times. Each
// kill comes a random 0..400 ms after the new projector committed its
// first batch, while the load keeps messages delivered and unacknowledged.
func TestFaultProjectorKilled(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{projectorArgs: []string{"--batch-size", "200"}})
	load := c.startLoad(loadRate, time.Duration(projKills)*4*time.Second+10*time.Second)
	c.waitStored(loadRate)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	for i := range projKills {
		require.Eventually(t, func() bool {
			n, err := scrapeSum(c.ctx, c.projector, `invitegate_projector_batches_total{result="ok"}`)
			return err == nil && n > 0
		}, time.Minute, 20*time.Millisecond, "projector %d commits a batch\n%s", i, c.projector.Tail(4096))
		hold(c.ctx, time.Duration(rng.IntN(400))*time.Millisecond)
		require.NoError(t, c.projector.Kill())
		c.startProjector()
	}
	logf("faults: projector-sigkill: projector killed %d times", projKills)

	records := load.wait(t)
	res := c.settle(records, 0)
	dups, _ := scrapeSum(c.ctx, c.projector, "invitegate_projector_duplicates_total")
	t.Logf("projector-sigkill: the last projector skipped %.0f events already stored (redelivered after a kill)", dups)
	verdict(t, "projector-sigkill", res, expectation{})
}

// Scenario 3: PostgreSQL cut off between the projector and the database for
// the outage: first a blackhole (bytes vanish, connections hang), then
// refused connections; then restored.
func TestFaultPostgresCut(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{pgProxy: true})
	load := c.startLoad(loadRate, 10*time.Second+outage+15*time.Second)
	c.waitStored(2 * loadRate)

	require.NoError(t, c.proxy.Blackhole())
	logf("faults: postgres-cut: blackhole for %s, then refused for %s", outage/2, outage-outage/2)
	hold(c.ctx, outage/2)
	c.proxy.Refuse()
	hold(c.ctx, outage-outage/2)
	require.NoError(t, c.proxy.Restore())

	records := load.wait(t)
	verdict(t, "postgres-cut", c.settle(records, 0), expectation{})
}
