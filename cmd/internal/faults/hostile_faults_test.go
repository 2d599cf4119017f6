//go:build faults

package faults_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/faults"
	"github.com/invitegate/invitegate/cmd/internal/loadgen"
	"github.com/invitegate/invitegate/ingress"
)

// hostileTally counts hostile requests and those answered as documented.
type hostileTally struct {
	sent, documented atomic.Int64
	mu               sync.Mutex
	failures         []string
}

func (h *hostileTally) add(why string) {
	h.sent.Add(1)
	if why == "" {
		h.documented.Add(1)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.failures) < 20 {
		h.failures = append(h.failures, why)
	}
}

// memWatch samples the ingress's memory every second and keeps the peaks.
type memWatch struct {
	rss, heap, goroutines atomic.Int64
	stop                  chan struct{}
	done                  chan struct{}
}

func watchMemory(ctx context.Context, ig *faults.Invitegate) *memWatch {
	w := &memWatch{stop: make(chan struct{}), done: make(chan struct{})}
	peak := func(v *atomic.Int64, x float64) {
		if int64(x) > v.Load() {
			v.Store(int64(x))
		}
	}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			if m, err := faults.Scrape(ctx, ig.MetricsURL()); err == nil {
				peak(&w.rss, m["process_resident_memory_bytes"])
				peak(&w.heap, m["go_memstats_heap_inuse_bytes"])
				peak(&w.goroutines, m["go_goroutines"])
			}
			select {
			case <-tick.C:
			case <-w.stop:
				return
			}
		}
	}()
	return w
}

func (w *memWatch) end() { close(w.stop); <-w.done }

// slowClients runs n slowloris and n slow-body connections at once.
func slowClients(ctx context.Context, addr string, n int, tally *hostileTally) {
	const interval, limit = 200 * time.Millisecond, 8 * time.Second // header 2s, read 3s timeouts
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			res, err := faults.Slowloris(ctx, addr, "/callback", interval, limit)
			switch {
			case err != nil:
				tally.add("slowloris: " + err.Error())
			case len(res.Answer) > 0:
				tally.add("slowloris answered: " + string(res.Answer))
			default:
				tally.add("")
			}
		})
		wg.Go(func() {
			res, err := faults.SlowBody(ctx, addr, "/callback", app, interval, limit)
			switch {
			case err != nil:
				tally.add("slow body: " + err.Error())
			case len(res.Answer) > 0 && !(strings.HasPrefix(string(res.Answer), "HTTP/1.1 400") &&
				strings.Contains(string(res.Answer), `"ActionStatus":"FAIL"`)):
				tally.add("slow body answered: " + string(res.Answer))
			default:
				tally.add("")
			}
		})
	}
	wg.Wait()
}

// bigRequests sends n oversized bodies (with and without Content-Length)
// and n requests with oversized headers.
func bigRequests(ctx context.Context, callback string, n int, tally *hostileTally) {
	invite := faults.FuzzCase{App: app, Command: loadgen.CommandBeforeInviteJoinGroup}
	for i := range n {
		status, body, err := faults.Oversized(ctx, callback, app, 2<<20+i, i%2 == 1)
		switch {
		case err != nil:
			tally.add("oversized: " + err.Error())
		case status != http.StatusRequestEntityTooLarge:
			tally.add("oversized: status " + http.StatusText(status))
		default:
			tally.add(faults.ClassifyAnswer(app, invite, status, body))
		}
		status, err = faults.HugeHeader(ctx, callback, app, 128<<10)
		if err == nil && status != http.StatusRequestHeaderFieldsTooLarge {
			tally.add("huge header: status " + http.StatusText(status))
		} else if err != nil {
			tally.add("huge header: " + err.Error())
		} else {
			tally.add("")
		}
	}
}

// Scenario 7: hostile clients (slow headers, slow bodies, oversized bodies
// and headers, FAULTS_FUZZ_BODIES fuzzed bodies, the worst-case bodies of
// ingresstest 20 times each) alongside IM's own load:
// every hostile request gets the documented answer (or, for the slow ones,
// a closed connection at the read timeouts), IM's load is answered within
// 2 s and stored, nothing panics, memory stays bounded.
func TestFaultHostileClients(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	mem := watchMemory(c.ctx, c.ingress)
	hostileDone, loadDone := make(chan struct{}), make(chan struct{})
	var legit []*loadRun
	go func() { // IM's load, in 10 s runs, until the hostile clients are done
		defer close(loadDone)
		for {
			legit = append(legit, c.startLoad(loadRate, 10*time.Second))
			select {
			case <-hostileDone:
				return
			case <-legit[len(legit)-1].done:
			}
		}
	}()

	tally := &hostileTally{}
	began := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() { slowClients(c.ctx, c.httpAddr, 100, tally) })
	wg.Go(func() { bigRequests(c.ctx, c.ingress.Callback, 20, tally) })
	var worst faults.WorstCaseReport
	wg.Go(func() { worst = faults.RunWorstCase(c.ctx, c.ingress.Callback, app, ingress.DefaultMaxBodyBytes, 20) })
	fz := faults.RunFuzz(c.ctx, faults.FuzzConfig{URL: c.ingress.Callback, App: app, N: fuzzBodies, Workers: 8,
		Seed: uint64(time.Now().UnixNano())})
	wg.Wait()
	close(hostileDone)
	<-loadDone
	logf("faults: hostile-clients: %d fuzzed bodies in %s (%.0f/s), statuses %v; %d slow and oversized requests",
		fz.Sent, time.Since(began).Round(time.Second), float64(fz.Sent)/time.Since(began).Seconds(), fz.ByStatus, tally.sent.Load())

	var records []loadgen.Record
	for _, l := range legit {
		records = append(records, l.wait(t)...)
	}
	mem.end()
	// IM's events queue behind the fuzzed ones that were valid: the drain
	// is as long as the projector needs for those.
	drainStart := time.Now()
	res := c.settleWithin(records, 0, max(drainLimit, 15*time.Minute))
	pm, err := faults.Scrape(c.ctx, c.projector.MetricsURL())
	require.NoError(t, err)
	logf("faults: hostile-clients: drained in %s; projector: %.0f events, batches ok %.0f retry %.0f data_error %.0f, dead letters %.0f",
		time.Since(drainStart).Round(time.Second), pm.Sum("invitegate_projector_events_total"),
		pm[`invitegate_projector_batches_total{result="ok"}`], pm[`invitegate_projector_batches_total{result="retry"}`],
		pm[`invitegate_projector_batches_total{result="data_error"}`], pm.Sum("invitegate_projector_dead_letters_total"))
	logf("faults: hostile-clients: ingress peaks: rss %.0f MB, heap in use %.0f MB, %d goroutines",
		float64(mem.rss.Load())/1e6, float64(mem.heap.Load())/1e6, mem.goroutines.Load())
	select {
	case <-c.ingress.Exited():
		t.Fatalf("the ingress exited: %v\n%s", c.ingress.ExitErr(), c.ingress.Tail(8192))
	default:
	}

	logf("faults: hostile-clients: %d worst-case bodies (repeated keys, brace floods, deep nesting, 1 MiB strings, tiny members, escapes), slowest answer %s (%s)",
		worst.Sent, worst.Slowest.Round(time.Millisecond), worst.SlowestBody)
	hostile := tally.sent.Load() + fz.Sent + worst.Sent
	documented := tally.documented.Load() + fz.Documented + worst.Documented
	res.Attempted += int(hostile)
	res.Answered += int(documented)
	verdict(t, "hostile-clients", res, expectation{})
	require.Equal(t, hostile, documented, "undocumented answers: %q %q %q", tally.failures, fz.Examples, worst.Failures)
	require.Less(t, float64(mem.rss.Load()), maxRSS, "ingress RSS bound (FAULTS_MAX_RSS_MB)")
}
