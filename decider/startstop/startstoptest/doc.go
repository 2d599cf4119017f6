// Package startstoptest is the one stress test of the lifecycle contract of
// package startstop, run by the tests of every component that owns
// goroutines (the ingress server, outbox and followers; the projector's
// worker, aggregator, compactor and revision writer):
//
//	func TestWorkerStartStop(t *testing.T) {
//		t.Parallel()
//		startstoptest.Stress(t, func(t *testing.T) startstoptest.Component { return newWorker(t) })
//	}
//
// Place in the flow: beside package startstop, under every component; only
// tests import it.
package startstoptest
