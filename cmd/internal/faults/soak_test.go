//go:build soak

package faults_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/faults"
	"github.com/invitegate/invitegate/cmd/internal/loadgen"
)

// soakSample is one minute of the soak.
type soakSample struct {
	minute               int
	p99Ms                float64
	attempted, answered  int64
	ingress, projector   faults.Metrics
	lost, dup, unexpectd int
}

func (s soakSample) String() string {
	f := func(m faults.Metrics, name string) float64 { return m[name] }
	return fmt.Sprintf("soak: minute %d: p99 %.2fms answered %d/%d lost %d | ingress heap %.1fMB rss %.1fMB goroutines %.0f fds %.0f | projector heap %.1fMB rss %.1fMB goroutines %.0f fds %.0f",
		s.minute, s.p99Ms, s.answered, s.attempted, s.lost,
		f(s.ingress, "go_memstats_heap_inuse_bytes")/1e6, f(s.ingress, "process_resident_memory_bytes")/1e6,
		f(s.ingress, "go_goroutines"), f(s.ingress, "process_open_fds"),
		f(s.projector, "go_memstats_heap_inuse_bytes")/1e6, f(s.projector, "process_resident_memory_bytes")/1e6,
		f(s.projector, "go_goroutines"), f(s.projector, "process_open_fds"))
}

// TestSoak runs FAULTS_SOAK_RATE callbacks/s (1,000) for FAULTS_SOAK_DURATION
// (30 min) through nats-server (sync always), ingress and projector, one
// loadgen run a minute, and checks each minute's requests a minute later.
// It fails on any loss or unanswered callback, and when heap, goroutines,
// file descriptors or p99 of the last third grow past the first third's.
func TestSoak(t *testing.T) {
	// loadgen gives every request its own GroupId (the checker's key), so
	// the stats aggregator meets 1,000 new groups a second: a lower key cap
	// than the default makes it reach its plateau, and prove the bound,
	// within the first third of the run.
	c := newCluster(t, clusterOptions{projectorArgs: []string{"--stats-max-keys", strconv.Itoa(soakMaxKeys)}})
	minutes := max(3, int(soakLength/time.Minute))
	var samples []soakSample
	var pending []loadgen.Record
	for m := range minutes {
		load := c.startLoad(soakRate, time.Minute)
		if len(pending) > 0 { // last minute's requests, checked while this one runs
			samples[len(samples)-1].judge(t, c, pending)
		}
		pending = load.wait(t)
		s := soakSample{minute: m + 1, p99Ms: load.rep.Latency.P99Ms, attempted: load.rep.Attempted, answered: load.rep.Answered}
		var err error
		s.ingress, err = faults.Scrape(c.ctx, c.ingress.MetricsURL())
		require.NoError(t, err)
		s.projector, err = faults.Scrape(c.ctx, c.projector.MetricsURL())
		require.NoError(t, err)
		samples = append(samples, s)
		require.Equal(t, s.attempted, s.answered, "minute %d: every callback answered", s.minute)
	}
	samples[len(samples)-1].judge(t, c, pending)
	flat(t, samples)
}

// judge checks a minute's requests (after the drain) and logs the minute.
func (s *soakSample) judge(t *testing.T, c *cluster, records []loadgen.Record) {
	res := c.settle(records, 0)
	s.lost, s.dup, s.unexpectd = res.Lost, res.Duplicated, res.Unexpected
	logf("%s", res.Line(fmt.Sprintf("soak-minute-%d", s.minute)))
	logf("%s", s)
	require.Zero(t, res.Lost+res.Duplicated+res.Unexpected, "minute %d: %s", s.minute, res.Detail())
}

// flat compares the median minute of the last third with that of the
// first third (the first minute, warm-up, left out): medians, so that one
// minute of a noisy shared machine does not decide.
func flat(t *testing.T, samples []soakSample) {
	n := len(samples) / 3
	first, last := samples[1:1+n], samples[len(samples)-n:]
	med := func(xs []soakSample, f func(soakSample) float64) float64 {
		vs := make([]float64, len(xs))
		for i, x := range xs {
			vs[i] = f(x)
		}
		slices.Sort(vs)
		return vs[len(vs)/2]
	}
	for _, check := range []struct {
		name  string
		f     func(soakSample) float64
		limit func(first float64) float64
	}{
		{"ingress heap", func(s soakSample) float64 { return s.ingress["go_memstats_heap_inuse_bytes"] }, func(f float64) float64 { return 1.5*f + 16e6 }},
		{"ingress goroutines", func(s soakSample) float64 { return s.ingress["go_goroutines"] }, func(f float64) float64 { return 1.2*f + 20 }},
		{"ingress fds", func(s soakSample) float64 { return s.ingress["process_open_fds"] }, func(f float64) float64 { return f + 20 }},
		{"projector heap", func(s soakSample) float64 { return s.projector["go_memstats_heap_inuse_bytes"] }, func(f float64) float64 { return 1.5*f + 16e6 }},
		{"projector goroutines", func(s soakSample) float64 { return s.projector["go_goroutines"] }, func(f float64) float64 { return 1.2*f + 20 }},
		{"projector fds", func(s soakSample) float64 { return s.projector["process_open_fds"] }, func(f float64) float64 { return f + 20 }},
		{"p99 ms", func(s soakSample) float64 { return s.p99Ms }, func(f float64) float64 { return 3*f + 20 }},
	} {
		a, b := med(first, check.f), med(last, check.f)
		logf("soak: %s: first third %.1f, last third %.1f (limit %.1f)", check.name, a, b, check.limit(a))
		if b > check.limit(a) { // every measure is reported before the test fails
			t.Errorf("%s grows: median minute %.1f in the first third, %.1f in the last", check.name, a, b)
		}
	}
	p99s := make([]float64, len(samples))
	for i, s := range samples {
		p99s[i] = s.p99Ms
	}
	logf("soak: %d minutes, worst minute p99 %.2fms", len(samples), slices.Max(p99s))
}
