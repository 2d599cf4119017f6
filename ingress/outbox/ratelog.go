package outbox

import (
	"sync"
	"time"
)

// rateLog lets one log line per key through every interval and counts what
// it held back, so a storm of drops or retries is logged, not flooded.
type rateLog struct {
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	last map[string]time.Time
	held map[string]int
}

func newRateLog(every time.Duration, now func() time.Time) *rateLog {
	return &rateLog{every: every, now: now, last: map[string]time.Time{}, held: map[string]int{}}
}

// allow records n occurrences under key. It reports whether to log now and,
// if so, the occurrences since the last line (n included).
func (r *rateLog) allow(key string, n int) (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.held[key] += n
	now := r.now()
	if last, ok := r.last[key]; ok && now.Sub(last) < r.every {
		return false, 0
	}
	r.last[key] = now
	total := r.held[key]
	r.held[key] = 0
	return true, total
}
