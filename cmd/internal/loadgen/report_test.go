package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestReportTextAndJSON(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	cfg := b.config(50)
	cfg.Rate = 5000

	rep, err := Run(context.Background(), cfg)
	require.NoError(t, err)

	var text bytes.Buffer
	require.NoError(t, rep.Write(&text)) // Config.JSON unset: text
	out := text.String()
	for _, want := range []string{
		"loadgen run test: open-loop, concurrency 4, target 5000.0/s",
		"attempted 50  answered 50  missed 0",
		"outcomes  allow 0 partial 50 reject 0 ok 0 error 0",
		"errors    timeout 0 connection 0 status 0 bad_body 0 canceled 0",
		"statuses  200: 50",
		"latency   p50 ", "service   p50 ", "histogram (latency)",
	} {
		require.Contains(t, out, want)
	}

	cfg.JSON = true
	rep, err = Run(context.Background(), cfg)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, rep.Write(&buf))
	var back map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &back))
	require.Equal(t, "open", back["mode"])
	require.EqualValues(t, 50, back["attempted"])
	require.Equal(t, map[string]any{"200": 50.0}, back["statuses"])
	lat := back["latency"].(map[string]any)
	for _, k := range []string{"p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "max_ms", "mean_ms", "histogram"} {
		require.Contains(t, lat, k)
	}
	var total float64
	for _, bk := range lat["histogram"].([]any) {
		total += bk.(map[string]any)["count"].(float64)
	}
	require.EqualValues(t, 50, total)
}

func TestSummarizeBuckets(t *testing.T) {
	t.Parallel()
	var h Histogram
	for _, d := range []time.Duration{50 * time.Microsecond, 700 * time.Microsecond, 3 * time.Millisecond, 3 * time.Second} {
		h.Record(d)
	}
	s := summarize(&h)
	counts := map[float64]uint64{}
	for _, bk := range s.Histogram {
		counts[bk.LeMs] = bk.Count
	}
	require.Equal(t, map[float64]uint64{0.1: 1, 1: 1, 5: 1, -1: 1}, nonZero(counts))
	require.InEpsilon(t, 3000, s.MaxMs, 0.001)

	var text bytes.Buffer
	require.NoError(t, (&Report{Latency: s, Mode: "closed"}).WriteText(&text))
	require.Contains(t, text.String(), "<= 0.1ms")
	require.Contains(t, text.String(), "> 2000ms")
}

func nonZero(m map[float64]uint64) map[float64]uint64 {
	for k, v := range m {
		if v == 0 {
			delete(m, k)
		}
	}
	return m
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestWriteTextReportsWriteError(t *testing.T) {
	t.Parallel()
	require.ErrorContains(t, (&Report{}).WriteText(failingWriter{}), "disk on fire")
}

func TestProgressLines(t *testing.T) {
	t.Parallel()
	for _, asJSON := range []bool{false, true} {
		b := setup(t, nil)
		cfg := b.config(0)
		cfg.Duration = 200 * time.Millisecond
		cfg.ProgressEvery = 20 * time.Millisecond
		var progress bytes.Buffer // Run joins its progress goroutine before returning
		cfg.Progress = &progress
		cfg.JSON = asJSON

		_, err := Run(context.Background(), cfg)
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
		require.NotEmpty(t, lines[0])
		for _, line := range lines {
			if asJSON {
				var p progressLine
				require.NoError(t, json.Unmarshal([]byte(line), &p), line)
				require.Positive(t, p.ElapsedS)
				continue
			}
			require.Regexp(t, `^loadgen +\d+\.\ds  sent \d+ +\d+\.\d/s  p50 [\d.]+ms  p99 [\d.]+ms  errors \d+$`, line)
		}
	}
}
