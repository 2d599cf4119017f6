package statsfeed

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/invitegate/invitegate/decider"
)

// slot is the index of a statistic within the entry of its subject: an
// operator entry holds operator_invites_1h, _24h and operator_refused_24h;
// a group entry group_invites_1h and group_size; a member entry
// member_invited_1h.
var slot = [decider.NumStats]int{0, 1, 2, 0, 0, 1}

const subjects = 3 // decider.SubjectOperator, SubjectMember, SubjectGroup

// entry holds the statistics of one key. Values are written by the one
// goroutine that applies updates and read by any decision, atomically.
type entry struct {
	vals [3]atomic.Int32
	seen atomic.Int64 // unix seconds of the last update
}

// appTable is the statistics of one app: one map per subject, keyed by id.
type appTable struct {
	subj [subjects]sync.Map // string -> *entry
}

// Table holds the statistics an ingress decides with: in memory, read
// without locks (sync.Map loads and atomic values), written by one
// goroutine (the Follower's). It implements decider.StatsSource. Keys
// that got no update for the TTL are removed by Sweep, and a key whose
// statistics all fall to 0 is removed at once, so the table holds only
// keys active in the aggregator's windows.
type Table struct {
	apps sync.Map // app -> *appTable
	keys atomic.Int64
}

// NewTable returns an empty Table.
func NewTable() *Table { return &Table{} }

var _ decider.StatsSource = (*Table)(nil)

// Stat returns the value of st for key in app, 0 when unknown.
func (t *Table) Stat(st decider.Stat, app, key string) int64 {
	a, ok := t.apps.Load(app)
	if !ok {
		return 0
	}
	e, ok := a.(*appTable).subj[st.Subject()].Load(key)
	if !ok {
		return 0
	}
	return int64(e.(*entry).vals[slot[st]].Load())
}

// Keys returns how many keys the table holds.
func (t *Table) Keys() int64 { return t.keys.Load() }

// apply stores u, seen at now. It must be called from one goroutine at a
// time (with Sweep).
func (t *Table) apply(u decider.StatUpdate, now time.Time) {
	v := int32(min(max(u.Value, 0), math.MaxInt32))
	a, ok := t.apps.Load(u.App)
	if !ok {
		if v == 0 {
			return
		}
		a, _ = t.apps.LoadOrStore(u.App, &appTable{})
	}
	m := &a.(*appTable).subj[u.Stat.Subject()]
	got, ok := m.Load(u.Key)
	if !ok {
		if v == 0 {
			return
		}
		e := &entry{}
		e.vals[slot[u.Stat]].Store(v)
		e.seen.Store(now.Unix())
		m.Store(u.Key, e)
		t.keys.Add(1)
		return
	}
	e := got.(*entry)
	e.vals[slot[u.Stat]].Store(v)
	e.seen.Store(now.Unix())
	if v == 0 && e.vals[0].Load() == 0 && e.vals[1].Load() == 0 && e.vals[2].Load() == 0 {
		m.Delete(u.Key)
		t.keys.Add(-1)
	}
}

// Sweep removes the keys not updated since before now-ttl and returns how
// many it removed. It must not run concurrently with apply.
func (t *Table) Sweep(now time.Time, ttl time.Duration) int {
	cutoff := now.Add(-ttl).Unix()
	removed := 0
	t.apps.Range(func(_, a any) bool {
		for i := range subjects {
			m := &a.(*appTable).subj[i]
			m.Range(func(k, e any) bool {
				if e.(*entry).seen.Load() < cutoff {
					m.Delete(k)
					removed++
				}
				return true
			})
		}
		return true
	})
	t.keys.Add(-int64(removed))
	return removed
}
