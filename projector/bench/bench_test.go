package bench_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

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
}

func TestProjectorSmall(t *testing.T) {
	t.Parallel()
	res, err := bench.Projector(context.Background(), bench.ProjectorConfig{Events: 2000, EventsPerMessage: 50},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	require.Equal(t, 2000, res.Events)
	require.Equal(t, 40, res.Messages)
	require.Positive(t, res.EventsPerSecond)
	require.Contains(t, res.String(), "events/s")
}
