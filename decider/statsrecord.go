package decider

// What a decision records of the statistics for a later replay. A rule
// reads a statistic only when its evaluation gets there (&& and || stop
// early, a rejected request judges no member), so Decision.Stats alone
// would leave a replayed candidate without values the ingress held. The
// decision therefore also records the values of every statistic the
// policy reads that it did not need (StatsUnread, non-zero values only)
// and the names of the statistics the ingress held (StatsKnown): any
// (statistic, key) of those absent from both lists was 0.

// recordUnread fills d.StatsKnown and d.StatsUnread; it runs only for a
// policy that reads statistics.
func (s *Snapshot) recordUnread(ev *evaluation, d *Decision) {
	d.StatsKnown = s.statNames
	if ev.src == nil {
		return
	}
	for _, st := range s.stats {
		switch st.Subject() {
		case SubjectMember:
			for _, m := range ev.req.Members {
				ev.unread(d, st, m)
			}
		case SubjectGroup:
			ev.unread(d, st, ev.req.GroupID)
		default:
			ev.unread(d, st, ev.req.Operator)
		}
	}
}

// unread records the value of st for key unless the rules read it, it is
// recorded already (a member listed twice) or it is 0.
func (ev *evaluation) unread(d *Decision, st Stat, key string) {
	name := statNames[st]
	for _, list := range [2][]StatRead{ev.reads, d.StatsUnread} {
		for _, r := range list {
			if r.Stat == name && r.Key == key {
				return
			}
		}
	}
	if v := ev.src.Stat(st, ev.req.App, key); v != 0 {
		d.StatsUnread = append(d.StatsUnread, StatRead{Stat: name, Key: key, Value: v})
	}
}

// RecordedStats answers stats lookups from what an event recorded: Stats,
// then StatsUnread, then 0 for a statistic named in StatsKnown. A lookup
// it cannot answer (an event of an older schema, or a statistic the policy
// in force did not read) reads 0 and is counted in Unknown.
type RecordedStats struct {
	Read, Unread []StatRead
	Known        []string
	Unknown      int
}

// Reset makes r answer from ev's records.
func (r *RecordedStats) Reset(ev *Event) {
	*r = RecordedStats{Read: ev.Stats, Unread: ev.StatsUnread, Known: ev.StatsKnown}
}

// Stat implements StatsSource.
func (r *RecordedStats) Stat(st Stat, _ string, key string) int64 {
	name := st.String()
	for _, list := range [2][]StatRead{r.Read, r.Unread} {
		for _, x := range list {
			if x.Stat == name && x.Key == key {
				return x.Value
			}
		}
	}
	for _, k := range r.Known {
		if k == name {
			return 0
		}
	}
	r.Unknown++
	return 0
}
