package loadgen

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/invitegate/invitegate/cmd/internal/barehandler"
)

// BenchmarkClosedLoopBareHandler is the baseline ceiling of the comparison: loadgen
// in closed-loop against barehandler, in one process over loopback, both
// sharing the machine's cores. One op is one answered callback; req/s and the
// latency percentiles come from loadgen's own report.
//
//	go test -run '^$' -bench ClosedLoopBareHandler -benchtime 20000x ./cmd/internal/loadgen
func BenchmarkClosedLoopBareHandler(b *testing.B) {
	for _, concurrency := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("concurrency=%d", concurrency), func(b *testing.B) {
			srv := httptest.NewServer(barehandler.New())
			defer srv.Close()
			cfg := Config{
				URL: srv.URL + "/im", Requests: int64(b.N), Concurrency: concurrency,
				Seed: 1, BannedShare: 0.05, Token: "bench-token",
			}
			b.ReportAllocs()
			b.ResetTimer()
			rep, err := Run(context.Background(), cfg)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if rep.Answered != int64(b.N) {
				b.Fatalf("answered %d of %d: errors %v", rep.Answered, b.N, rep.Errors)
			}
			b.ReportMetric(rep.AnsweredRate, "req/s")
			b.ReportMetric(rep.Latency.P50Ms, "p50_ms")
			b.ReportMetric(rep.Latency.P99Ms, "p99_ms")
		})
	}
}

// BenchmarkGenerate is loadgen's own cost per request before the network:
// the draw, the URL with its signature, and the body.
func BenchmarkGenerate(b *testing.B) {
	cfg := Config{URL: "http://127.0.0.1:1/im", Token: "t", BannedShare: 0.05, RunID: "bench"}.withDefaults()
	g := newGenerator(cfg)
	b.ReportAllocs()
	for b.Loop() {
		d := g.next()
		_ = requestURL(cfg.URL, &cfg, d, 1669872112)
		_ = body(d, 1669872112000)
	}
}
