package loadgen

import (
	"encoding/json"
	"fmt"
	"time"
)

// progressLine is one live line: the interval since the previous line.
type progressLine struct {
	ElapsedS float64 `json:"elapsed_s"`
	Sent     int64   `json:"sent"`     // requests completed so far
	Rate     float64 `json:"rate"`     // requests sent per second over the interval
	P50Ms    float64 `json:"p50_ms"`   // over the interval's answers
	P99Ms    float64 `json:"p99_ms"`   // over the interval's answers
	Errors   int64   `json:"errors"`   // total so far
	Answered int64   `json:"answered"` // total so far
}

// startProgress writes a line to cfg.Progress every ProgressEvery until the
// returned stop is called; stop waits for the goroutine to end.
func (r *runner) startProgress(start time.Time) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		ticker := time.NewTicker(r.cfg.ProgressEvery)
		defer ticker.Stop()
		prevSnap, prevSent, prevAt := r.latency.snapshot(), int64(0), start
		for {
			select {
			case <-done:
				return
			case now := <-ticker.C:
				snap, sent := r.latency.snapshot(), r.attempted.Load()
				interval := snap.minus(prevSnap)
				r.writeProgress(progressLine{
					ElapsedS: now.Sub(start).Seconds(),
					Sent:     sent,
					Rate:     float64(sent-prevSent) / now.Sub(prevAt).Seconds(),
					P50Ms:    ms(interval.quantile(0.50)),
					P99Ms:    ms(interval.quantile(0.99)),
					Errors:   r.errors(),
					Answered: r.answered.Load(),
				})
				prevSnap, prevSent, prevAt = snap, sent, now
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

func (r *runner) errors() int64 {
	var n int64
	for i := range r.errKinds {
		n += r.errKinds[i].Load()
	}
	return n
}

// writeProgress ignores write errors: progress is a courtesy, the report is the result.
func (r *runner) writeProgress(p progressLine) {
	if r.cfg.JSON {
		line, _ := json.Marshal(p)
		fmt.Fprintf(r.cfg.Progress, "%s\n", line)
		return
	}
	fmt.Fprintf(r.cfg.Progress, "loadgen %6.1fs  sent %d  %8.1f/s  p50 %s  p99 %s  errors %d\n",
		p.ElapsedS, p.Sent, p.Rate, fmtMs(p.P50Ms), fmtMs(p.P99Ms), p.Errors)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fmtMs prints milliseconds with three significant digits.
func fmtMs(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.3fms", v)
	case v < 100:
		return fmt.Sprintf("%.2fms", v)
	default:
		return fmt.Sprintf("%.0fms", v)
	}
}
