package bench_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/migrations/pgtest"
	"github.com/invitegate/invitegate/projector/bench"
)

// BenchmarkProjector drains b.N events (at least 10,000) and reports events/s.
func BenchmarkProjector(b *testing.B) {
	b.ReportAllocs()
	n := max(b.N, 10_000)
	res, err := bench.Projector(context.Background(), bench.ProjectorConfig{Events: n},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(b, err)
	b.ReportMetric(res.EventsPerSecond, "events/s")
	b.ReportMetric(float64(res.CPUPerEvent().Nanoseconds()), "cpu-ns/event")
}

func TestProjectorSmall(t *testing.T) {
	t.Parallel()
	// Enough events for PostgreSQL's backends to spend several of /proc's
	// 10 ms ticks: 2,000 now cost them about 15 ms, sometimes read as 0.
	res, err := bench.Projector(context.Background(), bench.ProjectorConfig{Events: 20_000, EventsPerMessage: 500},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	require.Equal(t, 20_000, res.Events)
	require.Equal(t, 40, res.Messages)
	require.Positive(t, res.EventsPerSecond)
	require.Contains(t, res.String(), "events/s")
	require.Positive(t, res.ProcessCPU)
	require.Positive(t, res.PostgresCPU, "the machine's PostgreSQL backends are readable in /proc")
	require.Contains(t, res.String(), "events per CPU-second")
}

func TestAnalyticsSmall(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	cfg := bench.AnalyticsConfig{DatabaseURL: pgtest.NewDatabase(t), Events: 30_000, Operators: 500, Runs: 1}
	timings, err := bench.Analytics(context.Background(), cfg, &out)
	require.NoError(t, err, out.String())
	rows := map[string]int{}
	for _, qt := range timings {
		rows[qt.Name] = qt.Rows
		require.Positive(t, qt.Median)
	}
	require.Equal(t, map[string]int{
		"last-day-by-hour": 24, "thirty-days-by-day": 30, "top-inviters": 20, "refusals-by-rule": 9,
	}, rows)
	require.Contains(t, out.String(), "loaded 30000 events")

	out.Reset()
	_, err = bench.Analytics(context.Background(), cfg, &out)
	require.NoError(t, err)
	require.Contains(t, out.String(), "reusing the load")
}
