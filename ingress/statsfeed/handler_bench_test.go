package statsfeed

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/decider/cputime"
	"github.com/invitegate/invitegate/ingress"
	"github.com/invitegate/invitegate/migrations/natsconn/natstest"
)

const (
	benchApp   = "1400000001"
	benchToken = "xxxxyyyy"
)

// benchRules are the policy of both sides; statsRules are added when stats
// are on.
const benchRules = `
apiVersion: invitegate/v1
lists:
  staff: [admin, ops]
rules:
  - name: too-many
    reject: size(members) > 500
  - name: no-avchatroom
    reject: group.type == "AVChatRoom"
  - name: no-staff
    refuse_member: member in lists.staff
  - name: no-bots
    refuse_member: member.startsWith("bot-")
`

const statsRules = `
  - name: flood
    reject: stats.operator_invites_1h > 200 || stats.operator_refused_24h > 50
  - name: full
    reject: stats.group_size + size(members) > 2000
  - name: harassed
    refuse_member: stats.member_invited_1h > 20
`

// BenchmarkHandlerStats is the ingress handler on a 50-member invite:
//
//   - no-stats-rules: the base policy alone (reference for the policy cost);
//   - stats-off: the base policy plus three stats rules, no stats source
//     (every statistic reads 0);
//   - stats-on: the same policy reading a Table of 1,000,000 operators
//     while 20,000 updates/s arrive over NATS and the Follower applies them.
//
// stats-on against stats-off is the cost of the stats machinery (lookups,
// recording the reads, applying updates) on the ingress.
func BenchmarkHandlerStats(b *testing.B) {
	for _, bc := range []struct {
		name  string
		rules string
		feed  bool
	}{
		{"no-stats-rules", benchRules, false},
		{"stats-off", benchRules + statsRules, false},
		{"stats-on", benchRules + statsRules, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			doc, err := decider.ParseDocument([]byte(bc.rules))
			require.NoError(b, err)
			snap, err := decider.Compile(doc, 1)
			require.NoError(b, err)
			engine := decider.NewEngine(decider.FailOpen, nil)
			engine.Load(snap)
			if bc.feed {
				stopFeed := feedTable(b, engine)
				defer stopFeed()
			}
			h, err := ingress.NewHandler(ingress.Config{SdkAppID: benchApp, CallbackToken: benchToken},
				ingress.Deps{Engine: engine, Registry: prometheus.NewRegistry()})
			require.NoError(b, err)
			serve(b, h)
		})
	}
}

// feedTable makes a Table of 1,000,000 operators the engine's source and
// publishes 200 updates every 10ms until the returned func is called.
func feedTable(b *testing.B, engine *decider.Engine) func() {
	nc, _ := natstest.Connect(b, natstest.Start(b, ""))
	table := NewTable()
	now := time.Now()
	for i := range 1_000_000 {
		table.apply(decider.StatUpdate{Stat: decider.StatOperatorInvites1h, App: benchApp, Key: "op-" + strconv.Itoa(i), Value: int64(i % 150)}, now)
	}
	runtime.GC() // the fill's garbage is not the handler's cost
	f, err := New(Config{}, nc, table, engine, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(b, err)
	require.NoError(b, f.Start(context.Background()))
	engine.SetStats(table)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			msg := decider.NewStatsMessage(nil)
			for j := range 200 {
				msg = decider.AppendStatUpdate(msg, decider.StatUpdate{Stat: decider.StatOperatorInvites1h, App: benchApp,
					Key: "op-" + strconv.Itoa((i*200+j)%1_000_000), Value: int64(j)})
			}
			_ = nc.Publish(decider.StatsSubject, msg)
		}
	})
	return func() {
		close(stop)
		wg.Wait()
		_ = f.Stop(context.Background())
	}
}

func serve(b *testing.B, h http.Handler) {
	ms := make([]map[string]string, 50)
	for i := range ms {
		ms[i] = map[string]string{"Member_Account": "user-" + strconv.Itoa(i)}
	}
	body, err := json.Marshal(map[string]any{"CallbackCommand": decider.CommandBeforeInviteJoinGroup,
		"GroupId": "@TGS#2J4SZEAEL", "Type": "Public", "Operator_Account": "op-4242", "DestinationMembers": ms})
	require.NoError(b, err)
	now := strconv.FormatInt(time.Now().Unix(), 10)
	q := url.Values{"SdkAppid": {benchApp}, "CallbackCommand": {decider.CommandBeforeInviteJoinGroup},
		"contenttype": {"json"}, "RequestTime": {now}, "Sign": {ingress.Sign(benchToken, now)}}
	r := httptest.NewRequest(http.MethodPost, "/callback?"+q.Encode(), nil)
	r.ContentLength = int64(len(body))
	rd := bytes.NewReader(body)
	r.Body = io.NopCloser(rd)
	b.ReportAllocs()
	var cpu0 time.Duration
	n := 0
	for b.Loop() {
		if n == 0 {
			cpu0 = cputime.Self()
		}
		n++
		rd.Reset(body)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(cputime.Self()-cpu0)/float64(n), "cpu-ns/op")
}
