package stats

import (
	"maps"
	"slices"
	"time"

	"github.com/invitegate/invitegate/decider"
)

// key names one operator, member or group: its id and its app (an index
// into Counters.appNames, since a deployment has a handful of apps and
// millions of ids).
type key struct {
	id  string
	app uint32
}

// Save states of a group's size (Counters with a store only).
const (
	sizeSaved    = iota // the store holds the current size
	sizeUnsaved         // changed since the last save; listed in Counters.unsaved
	sizeInFlight        // being saved
)

// counter is the state of one key. An operator uses the three windows; a
// member and a group winHour; a group also its size.
type counter struct {
	w      windows
	size   int64  // groups: members now in the group; 0 until based (its changes wait in Counters.deltas), so not published before
	sizeAt uint64 // groups: the stream sequence the stored base size covers; events up to it are in it already
	pub    [3]int64
	last   uint32 // minute of the key's latest event
	dirty  bool   // listed in Counters.dirty
	based  bool   // groups: size includes the stored base (always, without a store)
	saved  uint8  // groups: sizeSaved, sizeUnsaved or sizeInFlight
}

// sizeDelta is a change to the size of a group whose stored base is not
// loaded yet, at the stream sequence of its event.
type sizeDelta struct {
	seq uint64
	d   int64
}

// GroupKey names a group of an app.
type GroupKey struct {
	App, Group string
}

// GroupSize is a group's size as of stream sequence Seq: every size change
// of an event at or before Seq is in Size.
type GroupSize struct {
	GroupKey
	Size int64
	Seq  uint64
}

// Counters is the aggregator's state: sliding windows per operator, member
// and group, and group sizes, built from events. Not safe for concurrent
// use.
//
// Without a store (NewCounters(false)) a group's size counts the events
// read since the counters were made, and a group with members stays in
// memory. With one, a group's first event marks it unbased: its size
// changes are kept aside until Base adds the stored size (with the stream
// sequence it covers, so events read again after a restart are not counted
// twice); changed sizes are handed out by Unsaved to be stored; and an idle
// group can leave memory, since the store keeps its size.
type Counters struct {
	subj     [3]map[key]*counter // by decider.StatSubject
	dirty    []dirtyKey
	apps     map[string]uint32
	appNames []string

	store   bool
	unbased []key // groups waiting for their stored base, oldest first
	deltas  map[key][]sizeDelta
	unsaved []key
}

type dirtyKey struct {
	subj decider.StatSubject
	k    key
}

// NewCounters returns empty Counters; store says whether group sizes have
// a store (see Counters).
func NewCounters(store bool) *Counters {
	c := &Counters{apps: map[string]uint32{}, store: store, deltas: map[key][]sizeDelta{}}
	for i := range c.subj {
		c.subj[i] = map[key]*counter{}
	}
	return c
}

func (c *Counters) appIndex(app string) uint32 {
	i, ok := c.apps[app]
	if !ok {
		i = uint32(len(c.appNames))
		c.apps[app] = i
		c.appNames = append(c.appNames, app)
	}
	return i
}

func (c *Counters) get(s decider.StatSubject, app uint32, id string, minute uint32) (key, *counter) {
	k := key{id, app}
	ct := c.subj[s][k]
	if ct == nil {
		ct = &counter{based: s != decider.SubjectGroup || !c.store}
		c.subj[s][k] = ct
		if !ct.based {
			c.unbased = append(c.unbased, k)
		}
	}
	ct.last = max(ct.last, minute)
	c.markDirty(s, k, ct)
	return k, ct
}

// markDirty lists ct for the next Changes.
func (c *Counters) markDirty(s decider.StatSubject, k key, ct *counter) {
	if !ct.dirty {
		ct.dirty = true
		c.dirty = append(c.dirty, dirtyKey{s, k})
	}
}

// Apply counts one event, read at stream sequence seq, at its receive time
// (the ingress's clock, so every aggregator reading the stream counts it in
// the same bucket).
//
// Invites count every destination member for the operator, the group and
// each member, allowed or not; refusals count the refused members (all of
// them when the request was rejected); group sizes grow by the members an
// invite let in and by joins that did not come from an invite (a join of
// JoinType "Invited" follows an invite already counted), and shrink by
// exits.
func (c *Counters) Apply(ev *decider.Event, seq uint64) {
	t := ev.ReceivedAt
	h, d := bucketOf(t, hourBucket), bucketOf(t, dayBucket)
	app := c.appIndex(ev.App)
	n := uint32(len(ev.Members))
	switch ev.Kind {
	case decider.KindInvite:
		_, op := c.get(decider.SubjectOperator, app, ev.Operator, h)
		op.w.add(winHour, h, n)
		op.w.add(winDay, d, n)
		refused := uint32(len(ev.Refused))
		if ev.Outcome == decider.OutcomeReject {
			refused = n
		}
		if refused > 0 {
			op.w.add(winRefused, d, refused)
		}
		gk, g := c.get(decider.SubjectGroup, app, ev.GroupID, h)
		g.w.add(winHour, h, n)
		if ev.Outcome != decider.OutcomeReject {
			c.grow(gk, g, seq, int64(n-refused))
		}
		for _, m := range ev.Members {
			_, mc := c.get(decider.SubjectMember, app, m, h)
			mc.w.add(winHour, h, 1)
		}
	case decider.KindMemberJoined:
		if ev.ChangeType != "Invited" {
			gk, g := c.get(decider.SubjectGroup, app, ev.GroupID, h)
			c.grow(gk, g, seq, int64(n))
		}
	case decider.KindMemberExited:
		gk, g := c.get(decider.SubjectGroup, app, ev.GroupID, h)
		c.grow(gk, g, seq, -int64(n))
	}
}

// grow changes the size of group k by d for an event at stream sequence seq.
func (c *Counters) grow(k key, g *counter, seq uint64, d int64) {
	switch {
	case d == 0:
	case !g.based:
		c.deltas[k] = append(c.deltas[k], sizeDelta{seq, d})
	case g.sizeAt != 0 && seq <= g.sizeAt: // already in the stored base
	default:
		g.size += d
		c.markUnsaved(k, g)
	}
}

func (c *Counters) markUnsaved(k key, g *counter) {
	if !c.store || g.saved == sizeUnsaved {
		return
	}
	g.saved = sizeUnsaved
	c.unsaved = append(c.unsaved, k)
}

// Unbased returns the groups waiting for their stored size, for Base.
func (c *Counters) Unbased() []GroupKey {
	out := make([]GroupKey, len(c.unbased))
	for i, k := range c.unbased {
		out[i] = GroupKey{c.appNames[k.app], k.id}
	}
	return out
}

// Base completes the first n groups Unbased returned with their stored
// sizes (a group missing from stored has none: it starts at 0). Each
// group's size becomes the stored one plus the changes of its events
// after the sequence the stored size covers.
func (c *Counters) Base(n int, stored map[GroupKey]GroupSize) {
	for _, k := range c.unbased[:n] {
		g := c.subj[decider.SubjectGroup][k]
		row := stored[GroupKey{c.appNames[k.app], k.id}]
		g.size, g.sizeAt, g.based = row.Size, row.Seq, true
		changed := false
		for _, d := range c.deltas[k] {
			if d.seq > row.Seq || row.Seq == 0 {
				g.size += d.d
				changed = true
			}
		}
		delete(c.deltas, k)
		if changed {
			c.markUnsaved(k, g)
		}
		c.markDirty(decider.SubjectGroup, k, g)
	}
	c.unbased = shrink(append(c.unbased[:0], c.unbased[n:]...))
	if len(c.deltas) == 0 {
		c.deltas = map[key][]sizeDelta{} // a map never gives back its buckets
	}
}

// shrink drops the backing array of an emptied list that grew past a few
// thousand entries (a rebuild's burst), so it does not stay allocated.
func shrink[T any](s []T) []T {
	if len(s) == 0 && cap(s) > 4096 {
		return nil
	}
	return s
}

// Unsaved returns the sizes changed since the last call, as of stream
// sequence seq (the last one applied), and marks them in flight; Saved
// must follow with the outcome.
func (c *Counters) Unsaved(seq uint64) []GroupSize {
	var out []GroupSize
	for _, k := range c.unsaved {
		if g := c.subj[decider.SubjectGroup][k]; g != nil && g.saved == sizeUnsaved {
			g.saved = sizeInFlight
			out = append(out, GroupSize{GroupKey{c.appNames[k.app], k.id}, g.size, seq})
		}
	}
	c.unsaved = shrink(c.unsaved[:0])
	return out
}

// Saved records the outcome of storing sizes from Unsaved: stored, or to
// be stored again with the next call.
func (c *Counters) Saved(sizes []GroupSize, ok bool) {
	for _, s := range sizes {
		k := key{s.Group, c.apps[s.App]}
		g := c.subj[decider.SubjectGroup][k]
		if g == nil || g.saved != sizeInFlight { // changed again meanwhile: listed already
			continue
		}
		g.saved = sizeSaved
		if !ok {
			c.markUnsaved(k, g)
		}
	}
}

// values computes the current statistics of ct (by table slot).
func (ct *counter) values(s decider.StatSubject, now nowBuckets) [3]int64 {
	switch s {
	case decider.SubjectOperator:
		return [3]int64{ct.w.sum(winHour, now), ct.w.sum(winDay, now), ct.w.sum(winRefused, now)}
	case decider.SubjectMember:
		return [3]int64{ct.w.sum(winHour, now)}
	}
	return [3]int64{ct.w.sum(winHour, now), max(ct.size, 0)}
}

// subjectStats are the statistics of each subject, in table slot order.
var subjectStats = [3][]decider.Stat{
	decider.SubjectOperator: {decider.StatOperatorInvites1h, decider.StatOperatorInvites24h, decider.StatOperatorRefused24h},
	decider.SubjectMember:   {decider.StatMemberInvited1h},
	decider.SubjectGroup:    {decider.StatGroupInvites1h, decider.StatGroupSize},
}

// subjectNames label metrics by subject.
var subjectNames = [3]string{decider.SubjectOperator: "operator", decider.SubjectMember: "member", decider.SubjectGroup: "group"}

// sizeSlot is group_size's slot in a group's values.
const sizeSlot = 1

// Value returns the current value of st for id in app (tests, tools).
func (c *Counters) Value(st decider.Stat, app, id string, now time.Time) int64 {
	i, ok := c.apps[app]
	if !ok {
		return 0
	}
	ct := c.subj[st.Subject()][key{id, i}]
	if ct == nil {
		return 0
	}
	slot := 0
	for i, s := range subjectStats[st.Subject()] {
		if s == st {
			slot = i
		}
	}
	return ct.values(st.Subject(), bucketsAt(now))[slot]
}

// Keys returns how many keys the Counters hold.
func (c *Counters) Keys() int {
	return len(c.subj[0]) + len(c.subj[1]) + len(c.subj[2])
}

// Changes emits, for the keys touched since the last call, every
// statistic whose value differs from what was last emitted.
func (c *Counters) Changes(now time.Time, emit func(decider.StatUpdate)) {
	nb := bucketsAt(now)
	for _, dk := range c.dirty {
		if ct := c.subj[dk.subj][dk.k]; ct != nil {
			ct.dirty = false
			c.emit(dk.subj, dk.k, ct, nb, false, emit)
		}
	}
	c.dirty = shrink(c.dirty[:0])
}

// ForgetChanges clears the list Changes reads, while nothing is published
// (a rebuild): the first publication after it is a full Scan.
func (c *Counters) ForgetChanges() {
	for _, dk := range c.dirty {
		if ct := c.subj[dk.subj][dk.k]; ct != nil {
			ct.dirty = false
		}
	}
	c.dirty = shrink(c.dirty[:0])
}

// Scan visits every key: it emits the values that changed as the windows
// slid (all non-zero ones when full, which refreshes a replica that missed
// updates or just started) and forgets idle keys: those whose windows
// are empty, and, for a group, whose size is 0, or, with a store, is
// stored and has not changed for groupIdle. A forgotten group's published
// size is not withdrawn: the replicas' TTL expires it, and its next event
// loads it again from the store.
func (c *Counters) Scan(now time.Time, full bool, groupIdle time.Duration, emit func(decider.StatUpdate)) {
	nb := bucketsAt(now)
	idleSince := nb[winHour] - uint32(groupIdle/hourBucket)
	for s := range c.subj {
		for k, ct := range c.subj[s] {
			ct.w.prune(nb)
			c.emit(decider.StatSubject(s), k, ct, nb, full, emit)
			if ct.idle(decider.StatSubject(s), c.store, idleSince) {
				delete(c.subj[s], k)
			}
		}
	}
}

// idle says whether ct may be forgotten: nothing left in its windows,
// nothing unpublished, and, for a group, a size of 0 or one stored
// (store) that has not changed since minute idleSince.
func (ct *counter) idle(s decider.StatSubject, store bool, idleSince uint32) bool {
	if !ct.w.empty() || ct.dirty || ct.pub[0] != 0 || ct.pub[2] != 0 {
		return false
	}
	if s != decider.SubjectGroup {
		return ct.pub[1] == 0
	}
	return ct.evictable() && (ct.size == 0 && ct.pub[sizeSlot] == 0 || store && ct.last <= idleSince)
}

// evictable says whether ct may leave memory without losing state the
// windows do not rebuild: a group's size must be based and stored.
func (ct *counter) evictable() bool { return ct.based && ct.saved == sizeSaved }

func (c *Counters) emit(s decider.StatSubject, k key, ct *counter, now nowBuckets, full bool, emit func(decider.StatUpdate)) {
	vals := ct.values(s, now)
	for i, st := range subjectStats[s] {
		if vals[i] != ct.pub[i] || (full && vals[i] != 0) {
			emit(decider.StatUpdate{Stat: st, App: c.appNames[k.app], Key: k.id, Value: vals[i]})
			ct.pub[i] = vals[i]
		}
	}
}

// Evict forgets the least recently active keys until at most target
// remain, and returns how many it forgot by subject. Groups whose size is
// not stored yet stay. Values they had published are not withdrawn from the
// replicas, whose TTL expires them.
func (c *Counters) Evict(target int) [3]int {
	var evicted [3]int
	excess := c.Keys() - target
	if excess <= 0 {
		return evicted
	}
	byMinute := map[uint32]int{}
	for s := range c.subj {
		for _, ct := range c.subj[s] {
			if ct.evictable() {
				byMinute[ct.last]++
			}
		}
	}
	// The oldest minutes whose keys add up to the excess; of the last
	// minute taken, only as many as needed.
	minutes := slices.Sorted(maps.Keys(byMinute))
	var cutoff uint32
	for n, i := 0, 0; n < excess && i < len(minutes); i++ {
		cutoff = minutes[i]
		n += byMinute[cutoff]
	}
	// Older minutes first, then as many of the cutoff minute as needed.
	for _, older := range []bool{true, false} {
		for s := range c.subj {
			for k, ct := range c.subj[s] {
				if excess == 0 {
					return evicted
				}
				if ct.last > cutoff || older && ct.last == cutoff || !ct.evictable() {
					continue
				}
				delete(c.subj[s], k)
				evicted[s]++
				excess--
			}
		}
	}
	return evicted
}
