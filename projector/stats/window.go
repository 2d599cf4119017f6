package stats

import "time"

// Window widths and bucket sizes. A count over a window is the sum of the
// buckets that overlap it, so it slides in steps of one bucket: a 1-hour
// count covers the current minute and the 59 before it; a 24-hour count
// the current 10 minutes and the 143 periods before.
const (
	hourBucket = time.Minute
	hourSpan   = 60
	dayBucket  = 10 * time.Minute
	daySpan    = 144
)

// bucket is one non-empty bucket of a window: its number (time since the
// Unix epoch divided by the bucket size) and its count.
type bucket struct {
	at uint32
	n  uint32
}

// window is a sparse sliding window: only non-empty buckets are stored,
// oldest first, so a key seen once costs one bucket, not a ring of 60.
type window struct {
	b []bucket
}

func bucketOf(t time.Time, size time.Duration) uint32 {
	return uint32(t.Unix() / int64(size/time.Second))
}

// add counts n in bucket at. Buckets arrive mostly in order; an older one
// (events of several ingresses interleave) is inserted in place.
func (w *window) add(at, n uint32) {
	i := len(w.b)
	for i > 0 && w.b[i-1].at > at {
		i--
	}
	if i > 0 && w.b[i-1].at == at {
		w.b[i-1].n += n
		return
	}
	w.b = append(w.b, bucket{})
	copy(w.b[i+1:], w.b[i:])
	w.b[i] = bucket{at: at, n: n}
}

// sum returns the count of the buckets in (now-span, now] and drops the
// older ones.
func (w *window) sum(now, span uint32) int64 {
	oldest := now - span + 1
	drop := 0
	for drop < len(w.b) && w.b[drop].at < oldest {
		drop++
	}
	if drop > 0 {
		w.b = append(w.b[:0], w.b[drop:]...)
		if len(w.b) == 0 {
			w.b = nil
		}
	}
	var s int64
	for _, b := range w.b {
		if b.at <= now {
			s += int64(b.n)
		}
	}
	return s
}

func (w *window) empty() bool { return len(w.b) == 0 }
