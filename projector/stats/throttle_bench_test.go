package stats

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/ingress"
	"github.com/invitegate/invitegate/ingress/outbox"
	"github.com/invitegate/invitegate/ingress/statsfeed"
)

const (
	throttleApp   = "1400000001"
	throttleToken = "xxxxyyyy"
	threshold     = 100 // members invited in the last hour
)

// loop is the whole feedback loop in one process: an ingress (real HTTP)
// with its outbox to JetStream, the aggregator, and the statsfeed table
// the ingress decides with.
type loop struct {
	url string
}

func newLoop(b *testing.B) *loop {
	bu := setup(b)
	logger := slog.New(slog.DiscardHandler)
	ob, err := outbox.New(outbox.Config{DataDir: b.TempDir()}, bu.js, bu.nc, prometheus.NewRegistry(), logger)
	require.NoError(b, err)
	require.NoError(b, ob.Start(context.Background()))
	b.Cleanup(func() { _ = ob.Stop(context.Background()) })

	doc, err := decider.ParseDocument([]byte(fmt.Sprintf(`
apiVersion: invitegate/v1
rules:
  - name: flood
    reject: stats.operator_invites_1h >= %d
`, threshold)))
	require.NoError(b, err)
	snap, err := decider.Compile(doc, 1)
	require.NoError(b, err)
	engine := decider.NewEngine(decider.FailOpen, nil)
	engine.Load(snap)
	table := statsfeed.NewTable()
	engine.SetStats(table)
	f, err := statsfeed.New(statsfeed.Config{}, bu.nc, table, engine, logger, prometheus.NewRegistry())
	require.NoError(b, err)
	require.NoError(b, f.Start(context.Background()))
	b.Cleanup(func() { _ = f.Stop(context.Background()) })

	a, err := New(Config{FlushInterval: 100 * time.Millisecond}, bu.nc, bu.js, logger, prometheus.NewRegistry())
	require.NoError(b, err)
	require.NoError(b, a.Start(context.Background()))
	b.Cleanup(func() { _ = a.Stop(context.Background()) })
	waitCaughtUp(b, a)

	h, err := ingress.NewHandler(ingress.Config{SdkAppID: throttleApp, CallbackToken: throttleToken},
		ingress.Deps{Engine: engine, Registry: prometheus.NewRegistry(), Sink: ob})
	require.NoError(b, err)
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	return &loop{url: srv.URL}
}

// call sends one invite of n members and reports whether it was rejected.
func (l *loop) call(c *http.Client, operator string, n int) (bool, error) {
	now := strconv.FormatInt(time.Now().Unix(), 10)
	q := url.Values{"SdkAppid": {throttleApp}, "CallbackCommand": {decider.CommandBeforeInviteJoinGroup},
		"contenttype": {"json"}, "RequestTime": {now}, "Sign": {ingress.Sign(throttleToken, now)}}
	ms := make([]map[string]string, n)
	for i := range ms {
		ms[i] = map[string]string{"Member_Account": operator + "-m" + strconv.Itoa(i)}
	}
	body, _ := json.Marshal(map[string]any{"CallbackCommand": decider.CommandBeforeInviteJoinGroup,
		"GroupId": "@TGS#" + operator, "Type": "Public", "Operator_Account": operator, "DestinationMembers": ms})
	resp, err := c.Post(l.url+"/callback?"+q.Encode(), "application/json", strings.NewReader(string(body)))
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var answer struct{ ErrorCode int }
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return false, err
	}
	return answer.ErrorCode != 0, nil
}

// background sends rate callbacks/s from many other operators until stop.
func (l *loop) background(rate int, stop <-chan struct{}) (*sync.WaitGroup, *atomic.Int64) {
	var wg sync.WaitGroup
	var sent atomic.Int64
	const workers = 32
	for w := range workers {
		wg.Go(func() {
			c := &http.Client{}
			tick := time.NewTicker(time.Second * workers / time.Duration(rate))
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if _, err := l.call(c, fmt.Sprintf("bg-%d-%d", w, i%5000), 2); err == nil {
					sent.Add(1)
				}
			}
		})
	}
	return &wg, &sent
}

// BenchmarkThrottle measures the bar: at 2,000 callbacks/s of
// background traffic, how long after the callback that crosses the
// threshold an operator's invites are rejected (ms-to-throttle), end to
// end: ingress -> outbox -> JetStream -> aggregator -> NATS -> statsfeed.
// Run with -benchtime 3x.
func BenchmarkThrottle(b *testing.B) {
	l := newLoop(b)
	stop := make(chan struct{})
	wg, sent := l.background(2150, stop) // a little over 2,000: tickers drop ticks under load
	start := time.Now()
	c := &http.Client{}
	var worst time.Duration
	round := 0
	for b.Loop() {
		round++
		op := fmt.Sprintf("flooder-%d", round)
		var crossed time.Time
		for invited := 0; ; {
			rejected, err := l.call(c, op, 10)
			require.NoError(b, err)
			if rejected {
				d := time.Since(crossed)
				worst = max(worst, d)
				b.ReportMetric(float64(d.Milliseconds()), "ms-to-throttle")
				break
			}
			invited += 10
			if invited == threshold {
				crossed = time.Now() // this answer's event makes the count reach the threshold
			}
			if crossed.IsZero() {
				continue
			}
			if time.Since(crossed) > 10*time.Second {
				b.Fatal("not throttled within 10s")
			}
		}
	}
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
	b.ReportMetric(float64(sent.Load())/time.Since(start).Seconds(), "background-callbacks/s")
}
