package stats

import (
	"time"

	"github.com/invitegate/invitegate/decider"
)

// key names one operator, member or group of one app.
type key struct {
	app, id string
}

// counter holds the windows of one key. Which fields are used depends on
// the subject: an operator uses hour (invites 1h), day (invites 24h) and
// refused (24h); a member hour; a group hour and size.
type counter struct {
	hour, day, refused window
	size               int64
	pub                [3]int64 // last values emitted, by table slot
	dirty              bool
}

// Counters is the aggregator's state: sliding windows per operator, member
// and group, built from events. Not safe for concurrent use.
type Counters struct {
	subj  [3]map[key]*counter // by decider.StatSubject
	dirty []dirtyKey
}

type dirtyKey struct {
	subj decider.StatSubject
	k    key
}

// NewCounters returns empty Counters.
func NewCounters() *Counters {
	c := &Counters{}
	for i := range c.subj {
		c.subj[i] = map[key]*counter{}
	}
	return c
}

func (c *Counters) get(s decider.StatSubject, app, id string) *counter {
	k := key{app, id}
	ct := c.subj[s][k]
	if ct == nil {
		ct = &counter{}
		c.subj[s][k] = ct
	}
	if !ct.dirty {
		ct.dirty = true
		c.dirty = append(c.dirty, dirtyKey{s, k})
	}
	return ct
}

// Apply counts one event at its receive time (the ingress's clock, so
// every aggregator reading the stream counts it in the same bucket).
//
// Invites count every destination member for the operator, the group and
// each member, allowed or not; refusals count the refused members (all of
// them when the request was rejected); group sizes grow by the members an
// invite let in and by joins that did not come from an invite (a join of
// JoinType "Invited" follows an invite already counted), and shrink by
// exits.
func (c *Counters) Apply(ev *decider.Event) {
	t := ev.ReceivedAt
	h, d := bucketOf(t, hourBucket), bucketOf(t, dayBucket)
	n := uint32(len(ev.Members))
	switch ev.Kind {
	case decider.KindInvite:
		op := c.get(decider.SubjectOperator, ev.App, ev.Operator)
		op.hour.add(h, n)
		op.day.add(d, n)
		refused := uint32(len(ev.Refused))
		if ev.Outcome == decider.OutcomeReject {
			refused = n
		}
		if refused > 0 {
			op.refused.add(d, refused)
		}
		g := c.get(decider.SubjectGroup, ev.App, ev.GroupID)
		g.hour.add(h, n)
		if ev.Outcome != decider.OutcomeReject {
			g.size += int64(n - refused)
		}
		for _, m := range ev.Members {
			c.get(decider.SubjectMember, ev.App, m).hour.add(h, 1)
		}
	case decider.KindMemberJoined:
		if ev.ChangeType != "Invited" {
			c.get(decider.SubjectGroup, ev.App, ev.GroupID).size += int64(n)
		}
	case decider.KindMemberExited:
		c.get(decider.SubjectGroup, ev.App, ev.GroupID).size -= int64(n)
	}
}

// values computes the current statistics of ct (by table slot).
func (ct *counter) values(s decider.StatSubject, now time.Time) [3]int64 {
	h, d := bucketOf(now, hourBucket), bucketOf(now, dayBucket)
	switch s {
	case decider.SubjectOperator:
		return [3]int64{ct.hour.sum(h, hourSpan), ct.day.sum(d, daySpan), ct.refused.sum(d, daySpan)}
	case decider.SubjectMember:
		return [3]int64{ct.hour.sum(h, hourSpan)}
	}
	return [3]int64{ct.hour.sum(h, hourSpan), max(ct.size, 0)}
}

// subjectStats are the statistics of each subject, in table slot order.
var subjectStats = [3][]decider.Stat{
	decider.SubjectOperator: {decider.StatOperatorInvites1h, decider.StatOperatorInvites24h, decider.StatOperatorRefused24h},
	decider.SubjectMember:   {decider.StatMemberInvited1h},
	decider.SubjectGroup:    {decider.StatGroupInvites1h, decider.StatGroupSize},
}

// Value returns the current value of st for id in app (tests, tools).
func (c *Counters) Value(st decider.Stat, app, id string, now time.Time) int64 {
	ct := c.subj[st.Subject()][key{app, id}]
	if ct == nil {
		return 0
	}
	slot := 0
	for i, s := range subjectStats[st.Subject()] {
		if s == st {
			slot = i
		}
	}
	return ct.values(st.Subject(), now)[slot]
}

// Keys returns how many keys the Counters hold.
func (c *Counters) Keys() int {
	return len(c.subj[0]) + len(c.subj[1]) + len(c.subj[2])
}

// Changes emits, for the keys touched since the last call, every
// statistic whose value differs from what was last emitted.
func (c *Counters) Changes(now time.Time, emit func(decider.StatUpdate)) {
	for _, dk := range c.dirty {
		if ct := c.subj[dk.subj][dk.k]; ct != nil {
			ct.dirty = false
			c.emit(dk.subj, dk.k, ct, now, false, emit)
		}
	}
	c.dirty = c.dirty[:0]
}

// Scan visits every key: it emits the values that changed as the windows
// slid (all non-zero ones when full, which refreshes a replica that missed
// updates or just started) and forgets keys whose windows are empty.
func (c *Counters) Scan(now time.Time, full bool, emit func(decider.StatUpdate)) {
	for s := range c.subj {
		for k, ct := range c.subj[s] {
			c.emit(decider.StatSubject(s), k, ct, now, full, emit)
			if ct.pub == [3]int64{} && ct.hour.empty() && ct.day.empty() && ct.refused.empty() && ct.size == 0 && !ct.dirty {
				delete(c.subj[s], k)
			}
		}
	}
}

func (c *Counters) emit(s decider.StatSubject, k key, ct *counter, now time.Time, full bool, emit func(decider.StatUpdate)) {
	vals := ct.values(s, now)
	for i, st := range subjectStats[s] {
		if vals[i] != ct.pub[i] || (full && vals[i] != 0) {
			emit(decider.StatUpdate{Stat: st, App: k.app, Key: k.id, Value: vals[i]})
			ct.pub[i] = vals[i]
		}
	}
}
