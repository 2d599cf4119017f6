package statsfeed

import (
	"hash/maphash"
	"math"
	"sync/atomic"
	"time"

	"github.com/invitegate/invitegate/decider"
)

// slot is the index of a statistic within the entry of its subject: an
// operator entry holds operator_invites_1h, _24h and operator_refused_24h;
// a group entry group_invites_1h and group_size; a member entry
// member_invited_1h.
var slot = [decider.NumStats]int{0, 1, 2, 0, 0, 1}

// Key states in slots.keys; a live key's hash is at least keyMin.
const (
	keyEmpty = 0
	keyDead  = 1 // a tombstone: the key was removed; the slot is not reused before a rebuild
	keyMin   = 2
)

const minCapacity = 1 << 10

// slots is an open-addressing hash table (linear probing, power-of-two
// capacity) of pointer-free arrays, so the garbage collector never scans
// it: a million keys cost about 48 MB and no GC work. Keys are 64-bit
// hashes of (subject, app, id); two keys colliding on 64 bits would share
// a counter (for a million keys, a chance of about 1 in 30 million).
type slots struct {
	mask uint64
	keys []atomic.Uint64
	vals [][3]atomic.Int32
	seen []atomic.Int64 // unix seconds of the last update
}

func newSlots(capacity int) *slots {
	return &slots{mask: uint64(capacity - 1), keys: make([]atomic.Uint64, capacity),
		vals: make([][3]atomic.Int32, capacity), seen: make([]atomic.Int64, capacity)}
}

// find returns the index of key h, or -1 and the empty slot ending its
// probe sequence.
func (s *slots) find(h uint64) (int, int) {
	for i := h & s.mask; ; i = (i + 1) & s.mask {
		switch s.keys[i].Load() {
		case h:
			return int(i), -1
		case keyEmpty:
			return -1, int(i)
		}
	}
}

// Table holds the statistics an ingress decides with. Reads take no lock
// and allocate nothing: they load the current slots with an atomic pointer
// and probe atomics. One goroutine (the Follower's) writes: it publishes a
// new key's values before its hash, never reuses a removed key's slot in
// place, and rebuilds into fresh slots (swapped atomically) when tombstones
// and keys fill three quarters of the capacity. It implements
// decider.StatsSource. Keys that got no update for the TTL are removed by
// Sweep, and a key whose statistics all fall to 0 is removed at once.
type Table struct {
	cur  atomic.Pointer[slots]
	seed maphash.Seed
	live atomic.Int64
	used int // live keys plus tombstones (writer only)
}

// NewTable returns an empty Table.
func NewTable() *Table {
	t := &Table{seed: maphash.MakeSeed()}
	t.cur.Store(newSlots(minCapacity))
	return t
}

var _ decider.StatsSource = (*Table)(nil)

func (t *Table) hash(subj decider.StatSubject, app, id string) uint64 {
	var h maphash.Hash
	h.SetSeed(t.seed)
	_ = h.WriteByte(byte(subj))
	_, _ = h.WriteString(app)
	_ = h.WriteByte(0)
	_, _ = h.WriteString(id)
	return max(h.Sum64(), keyMin)
}

// Stat returns the value of st for key in app, 0 when unknown.
func (t *Table) Stat(st decider.Stat, app, key string) int64 {
	s := t.cur.Load()
	i, _ := s.find(t.hash(st.Subject(), app, key))
	if i < 0 {
		return 0
	}
	return int64(s.vals[i][slot[st]].Load())
}

// Keys returns how many keys the table holds.
func (t *Table) Keys() int64 { return t.live.Load() }

// apply stores u, seen at now, and reports false when u was for a new key
// while the table held maxKeys (it is then dropped). Only the writer
// goroutine calls it.
func (t *Table) apply(u decider.StatUpdate, now time.Time) bool {
	return t.applyCapped(u, now, math.MaxInt)
}

func (t *Table) applyCapped(u decider.StatUpdate, now time.Time, maxKeys int) bool {
	v := int32(min(max(u.Value, 0), math.MaxInt32))
	h := t.hash(u.Stat.Subject(), u.App, u.Key)
	s := t.cur.Load()
	i, empty := s.find(h)
	if i < 0 {
		if v == 0 {
			return true
		}
		if t.live.Load() >= int64(maxKeys) {
			return false
		}
		s.vals[empty][slot[u.Stat]].Store(v)
		s.seen[empty].Store(now.Unix())
		s.keys[empty].Store(h) // published last: a reader sees the values with the key
		t.live.Add(1)
		t.used++
		t.maybeRebuild(false)
		return true
	}
	s.vals[i][slot[u.Stat]].Store(v)
	s.seen[i].Store(now.Unix())
	if v == 0 && s.vals[i][0].Load() == 0 && s.vals[i][1].Load() == 0 && s.vals[i][2].Load() == 0 {
		t.remove(s, i)
	}
	return true
}

func (t *Table) remove(s *slots, i int) {
	s.keys[i].Store(keyDead)
	t.live.Add(-1)
}

// maybeRebuild copies the live keys into fresh slots, sized for twice
// their number, once keys and tombstones fill 3/4 of the capacity (or,
// when shrink, once live keys fill under 1/8 of it).
func (t *Table) maybeRebuild(shrink bool) {
	s := t.cur.Load()
	full := t.used*4 >= len(s.keys)*3
	sparse := shrink && len(s.keys) > minCapacity && int(t.live.Load())*8 < len(s.keys)
	if !full && !sparse {
		return
	}
	capacity := minCapacity
	for capacity < int(t.live.Load())*2+1 {
		capacity *= 2
	}
	n := newSlots(capacity)
	for i := range s.keys {
		h := s.keys[i].Load()
		if h < keyMin {
			continue
		}
		_, j := n.find(h)
		for k := range 3 {
			n.vals[j][k].Store(s.vals[i][k].Load())
		}
		n.seen[j].Store(s.seen[i].Load())
		n.keys[j].Store(h)
	}
	t.used = int(t.live.Load())
	t.cur.Store(n)
}

// Sweep removes the keys not updated since before now-ttl and returns how
// many it removed. Only the writer goroutine calls it.
func (t *Table) Sweep(now time.Time, ttl time.Duration) int {
	cutoff := now.Add(-ttl).Unix()
	s := t.cur.Load()
	removed := 0
	for i := range s.keys {
		if s.keys[i].Load() >= keyMin && s.seen[i].Load() < cutoff {
			t.remove(s, i)
			removed++
		}
	}
	t.maybeRebuild(true)
	return removed
}
