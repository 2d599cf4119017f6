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

// The windows a key can hold, as tags of its buckets: an operator uses all
// three, a member and a group winHour only.
const (
	winHour    = iota // members invited, 1 hour, minute buckets
	winDay            // members invited, 24 hours, 10-minute buckets
	winRefused        // members refused, 24 hours, 10-minute buckets
)

// A bucket's at is its window tag in the top two bits and its number (time
// since the Unix epoch divided by the bucket size) in the other 30: minutes
// fit until the year 4011.
const (
	tagShift = 30
	numMask  = 1<<tagShift - 1
)

// bucket is one non-empty bucket of a window: its tagged number and count.
type bucket struct {
	at uint32
	n  uint32
}

// windows holds every window of one key as one sparse slice of non-empty
// buckets, sorted by tagged number (so by window, then oldest first): a key
// seen once costs one 8-byte bucket and one slice header, not a ring per
// window.
type windows struct {
	b []bucket
}

func bucketOf(t time.Time, size time.Duration) uint32 {
	return uint32(t.Unix() / int64(size/time.Second))
}

// add counts n in bucket at of window tag. Buckets arrive mostly in order;
// an older one (events of several ingresses interleave) is inserted in
// place.
func (w *windows) add(tag int, at, n uint32) {
	at |= uint32(tag) << tagShift
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

// nowBuckets is the current bucket number of each window.
type nowBuckets [3]uint32

func bucketsAt(t time.Time) nowBuckets {
	h, d := bucketOf(t, hourBucket), bucketOf(t, dayBucket)
	return nowBuckets{winHour: h, winDay: d, winRefused: d}
}

var spans = [3]uint32{winHour: hourSpan, winDay: daySpan, winRefused: daySpan}

// sum returns the count of window tag over the buckets in (now-span, now]
// (a bucket ahead of now, from a clock running fast, counts once now
// reaches it).
func (w *windows) sum(tag int, now nowBuckets) int64 {
	oldest, newest := now[tag]-spans[tag]+1, now[tag]
	var s int64
	for _, b := range w.b {
		if int(b.at>>tagShift) != tag {
			continue
		}
		if at := b.at & numMask; at >= oldest && at <= newest {
			s += int64(b.n)
		}
	}
	return s
}

// prune drops the buckets that have left their window.
func (w *windows) prune(now nowBuckets) {
	kept := w.b[:0]
	for _, b := range w.b {
		tag := b.at >> tagShift
		if b.at&numMask >= now[tag]-spans[tag]+1 {
			kept = append(kept, b)
		}
	}
	if len(kept) == 0 {
		w.b = nil
		return
	}
	w.b = kept
}

func (w *windows) empty() bool { return len(w.b) == 0 }
