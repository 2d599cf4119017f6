package stats

import (
	"hash/maphash"
	"slices"
	"time"
)

// seenIDs remembers the event ids of the last Window of event time (by
// ReceivedAt, relative to the newest event read), at most MaxIDs of them,
// so that a copy of an event stored again (a batch re-published after the
// stream's duplicate window: an outage, a restart loop) is counted once.
//
// A copy carries its original's ReceivedAt, so it lands in the same minute
// bucket as the original and is recognised as long as that bucket is kept.
// An event older than every kept bucket cannot be told from a copy and is
// counted (invitegate_stats_dedup_unchecked_events_total): a late event
// that was never counted (a spool replayed after a long outage) must not be
// lost, and a copy that late is rare (it needs a PubAck lost and a
// re-publish more than Window after the original).
//
// Ids are kept as 64-bit hashes (maphash, seeded per process) in one map
// per minute: 35 bytes each in BenchmarkSeenIDsMemory, so the default
// 1,000,000 ids take about 35 MB. Two ids of the window sharing a hash would make the second look
// like a copy: with a million ids the chance per event is about 5e-14.
type seenIDs struct {
	window  int64 // minutes
	maxIDs  int
	seed    maphash.Seed
	buckets map[int64]map[uint64]struct{} // minute of ReceivedAt -> id hashes
	minutes []int64                       // keys of buckets, ascending
	floor   int64                         // events before this minute are not checked
	newest  int64
	n       int
}

func newSeenIDs(window time.Duration, maxIDs int) *seenIDs {
	return &seenIDs{window: max(int64(window/time.Minute), 1), maxIDs: maxIDs, seed: maphash.MakeSeed(),
		buckets: map[int64]map[uint64]struct{}{}, floor: -1 << 62}
}

// seen records id at t and reports whether it was recorded before (a
// copy), and whether it could be checked at all (false: t is older than the
// window kept, the event is taken as new).
func (s *seenIDs) seen(id string, t time.Time) (dup, checked bool) {
	if id == "" {
		return false, false
	}
	m := t.Unix() / 60
	if m < s.floor {
		return false, false
	}
	h := maphash.String(s.seed, id)
	b := s.buckets[m]
	if b == nil {
		b = map[uint64]struct{}{}
		s.buckets[m] = b
		i, _ := slices.BinarySearch(s.minutes, m)
		s.minutes = slices.Insert(s.minutes, i, m)
	} else if _, ok := b[h]; ok {
		return true, true
	}
	b[h] = struct{}{}
	s.n++
	if m > s.newest {
		s.newest = m
		s.trim(s.newest - s.window)
	}
	if s.n > s.maxIDs {
		s.trimCount(s.maxIDs - s.maxIDs/10)
	}
	return false, true
}

// trim forgets the buckets before minute floor.
func (s *seenIDs) trim(floor int64) {
	s.floor = max(s.floor, floor)
	i := 0
	for i < len(s.minutes) && s.minutes[i] < s.floor {
		s.n -= len(s.buckets[s.minutes[i]])
		delete(s.buckets, s.minutes[i])
		i++
	}
	s.minutes = s.minutes[i:]
}

// trimCount forgets the oldest buckets until at most keep ids remain (the
// newest bucket is always kept).
func (s *seenIDs) trimCount(keep int) {
	for s.n > keep && len(s.minutes) > 1 {
		s.trim(s.minutes[0] + 1)
	}
}

// ids is how many ids are remembered.
func (s *seenIDs) ids() int { return s.n }
