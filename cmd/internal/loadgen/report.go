package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"time"
)

// Report is the result of a Run. It marshals to JSON as is (for --json).
type Report struct {
	RunID          string    `json:"run_id"`
	URL            string    `json:"url"`
	Mode           string    `json:"mode"` // "open" (Rate > 0) or "closed"
	TargetRate     float64   `json:"target_rate,omitempty"`
	Concurrency    int       `json:"concurrency"`
	Started        time.Time `json:"started"`
	ElapsedSeconds float64   `json:"elapsed_s"`

	// Attempted requests were sent; Answered got HTTP 200 and a valid JSON
	// answer; Missed were scheduled (open-loop) but never sent because every
	// worker was busy until Duration ended.
	Attempted    int64   `json:"attempted"`
	Answered     int64   `json:"answered"`
	Missed       int64   `json:"missed"`
	AchievedRate float64 `json:"achieved_rate"` // attempted per second
	AnsweredRate float64 `json:"answered_rate"` // answered per second

	Errors   map[string]int64 `json:"errors"`   // by kind (ErrTimeout, ...), zero kinds left out
	Statuses map[int]int64    `json:"statuses"` // HTTP status counts
	Outcomes map[string]int64 `json:"outcomes"` // by outcome (OutcomeAllow, ...), zero ones left out

	// Latency of answered requests from their scheduled time (what IM's user
	// waits, no coordinated omission); Service from their actual send. The
	// two are the same in closed-loop.
	Latency LatencySummary `json:"latency"`
	Service LatencySummary `json:"service"`

	Interrupted bool `json:"interrupted,omitempty"` // the context was canceled
	asJSON      bool
}

// LatencySummary is a latency distribution in milliseconds.
type LatencySummary struct {
	Count     uint64   `json:"count"`
	MeanMs    float64  `json:"mean_ms"`
	P50Ms     float64  `json:"p50_ms"`
	P90Ms     float64  `json:"p90_ms"`
	P99Ms     float64  `json:"p99_ms"`
	P999Ms    float64  `json:"p99_9_ms"`
	MaxMs     float64  `json:"max_ms"`
	Histogram []Bucket `json:"histogram"`
}

// Bucket counts the latencies in (previous bucket's LeMs, LeMs]; the last
// bucket's LeMs is +Inf, marshalled as -1.
type Bucket struct {
	LeMs  float64 `json:"le_ms"`
	Count uint64  `json:"count"`
}

// bucketBoundsMs are the coarse histogram's upper bounds.
var bucketBoundsMs = []float64{0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000}

func summarize(h *Histogram) LatencySummary {
	s := h.snapshot()
	out := LatencySummary{
		Count: s.total, MeanMs: ms(s.mean()),
		P50Ms: ms(s.quantile(0.50)), P90Ms: ms(s.quantile(0.90)),
		P99Ms: ms(s.quantile(0.99)), P999Ms: ms(s.quantile(0.999)),
		MaxMs: ms(time.Duration(s.max)),
	}
	var below uint64
	for _, le := range bucketBoundsMs {
		n := s.countBelow(time.Duration(le * float64(time.Millisecond)))
		out.Histogram = append(out.Histogram, Bucket{LeMs: le, Count: n - below})
		below = n
	}
	out.Histogram = append(out.Histogram, Bucket{LeMs: -1, Count: s.total - below})
	return out
}

func (r *runner) report(start time.Time, elapsed time.Duration) *Report {
	rep := &Report{
		RunID: r.cfg.RunID, URL: r.cfg.URL, Mode: "closed", TargetRate: r.cfg.Rate,
		Concurrency: r.cfg.Concurrency, Started: start.UTC(), ElapsedSeconds: elapsed.Seconds(),
		Attempted: r.attempted.Load(), Answered: r.answered.Load(), Missed: r.missed.Load(),
		Errors: map[string]int64{}, Statuses: r.statuses, Outcomes: map[string]int64{},
		Latency: summarize(&r.latency), Service: summarize(&r.service),
		asJSON: r.cfg.JSON,
	}
	if r.cfg.Rate > 0 {
		rep.Mode = "open"
	}
	if secs := elapsed.Seconds(); secs > 0 {
		rep.AchievedRate = float64(rep.Attempted) / secs
		rep.AnsweredRate = float64(rep.Answered) / secs
	}
	for i, name := range errorKinds {
		if n := r.errKinds[i].Load(); n > 0 {
			rep.Errors[name] = n
		}
	}
	for i, name := range outcomeNames {
		if n := r.outcomes[i].Load(); n > 0 {
			rep.Outcomes[name] = n
		}
	}
	return rep
}

// Write writes the report as JSON when Config.JSON was set, as text otherwise.
func (rep *Report) Write(w io.Writer) error {
	if rep.asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteText(w)
}

// WriteText writes the report for a person.
func (rep *Report) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	ew.printf("loadgen run %s: %s-loop, concurrency %d", rep.RunID, rep.Mode, rep.Concurrency)
	if rep.Mode == "open" {
		ew.printf(", target %.1f/s", rep.TargetRate)
	}
	ew.printf(", %.2fs against %s", rep.ElapsedSeconds, rep.URL)
	if rep.Interrupted {
		ew.printf(" (interrupted)")
	}
	ew.printf("\nrequests  attempted %d  answered %d  missed %d  rate %.1f/s (answered %.1f/s)\n",
		rep.Attempted, rep.Answered, rep.Missed, rep.AchievedRate, rep.AnsweredRate)
	ew.printf("outcomes ")
	for _, name := range outcomeNames {
		ew.printf(" %s %d", name, rep.Outcomes[name])
	}
	ew.printf("\nerrors   ")
	for _, name := range errorKinds {
		ew.printf(" %s %d", name, rep.Errors[name])
	}
	ew.printf("\nstatuses ")
	for _, code := range slices.Sorted(maps.Keys(rep.Statuses)) {
		ew.printf(" %d: %d", code, rep.Statuses[code])
	}
	ew.printf("\n")
	writeSummary(ew, "latency", "from scheduled send", &rep.Latency)
	if rep.Mode == "open" {
		writeSummary(ew, "service", "from actual send", &rep.Service)
	}
	writeHistogram(ew, &rep.Latency)
	return ew.err
}

func writeSummary(ew *errWriter, name, note string, s *LatencySummary) {
	ew.printf("%-8s  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s  (%s, %d answers)\n",
		name, fmtMs(s.P50Ms), fmtMs(s.P90Ms), fmtMs(s.P99Ms), fmtMs(s.P999Ms),
		fmtMs(s.MaxMs), fmtMs(s.MeanMs), note, s.Count)
}

// writeHistogram prints the non-empty span of the coarse histogram with bars.
func writeHistogram(ew *errWriter, s *LatencySummary) {
	first, last := -1, -1
	for i, b := range s.Histogram {
		if b.Count > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if last < 0 {
		return
	}
	ew.printf("histogram (latency)\n")
	for _, b := range s.Histogram[first : last+1] {
		label := "> 2000ms"
		if b.LeMs >= 0 {
			label = fmt.Sprintf("<= %gms", b.LeMs)
		}
		share := float64(b.Count) / float64(max(s.Count, 1))
		bar := int(math.Round(share * 40))
		ew.printf("  %-10s %10d %6.2f%%", label, b.Count, 100*share)
		if bar > 0 {
			ew.printf(" %s", bars[:bar])
		}
		ew.printf("\n")
	}
}

const bars = "########################################"

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
