package replay

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/invitegate/invitegate/decider"
)

// worker decides rows with the candidate and counts the differences into
// its partial. It reuses its buffers from row to row.
type worker struct {
	c       *Config
	p       *partial
	req     decider.Request
	rec     decider.RecordedStats
	before  []decider.Refusal
	members []string // distinct members of the row
	key     []byte   // scratch for the top counters' keys
	seen    map[string]struct{}
}

func newWorker(c *Config) *worker {
	return &worker{c: c, p: newPartial(c), seen: map[string]struct{}{}}
}

func (w *worker) batch(b *batch) error {
	for k, off := range b.rows {
		end := len(b.data)
		if k+1 < len(b.rows) {
			end = b.rows[k+1]
		}
		if err := w.row(b.data[off:end]); err != nil {
			return err
		}
	}
	return nil
}

// recorded is the recorded answer of one invite.
type recorded struct {
	id         [16]byte
	outcome    decider.Outcome
	rejectRule string
	errorCode  int64
}

func (w *worker) row(data []byte) error {
	f := fieldReader{b: data}
	var r recorded
	id, _ := f.next()
	if len(id) != 16 {
		return fmt.Errorf("%w: event_id of %d bytes", errCopyFormat, len(id))
	}
	copy(r.id[:], id)
	if limit, _ := f.next(); len(limit) > 0 {
		// A bound (--max-members, --decision-timeout) kept the policy
		// from deciding: the recorded answer is the fail mode's, and
		// comparing a candidate with it would say nothing of the policy.
		w.p.s.Limited++
		return nil
	}
	q := &w.req
	q.App, q.GroupID, q.GroupType, q.Operator = f.str(), f.str(), f.str(), f.str()
	var err error
	if q.Members, _, err = f.strs(q.Members); err != nil {
		return err
	}
	q.Platform, q.ClientIP = f.str(), f.str()
	q.EventTime = f.time()
	receivedAt := f.time()
	r.outcome, r.rejectRule, r.errorCode = decider.Outcome(f.str()), f.str(), f.int8()
	w.before = w.before[:0]
	if refused := f.jsonb(); refused != nil {
		if w.before, err = decodeRefusals(refused, w.before); err != nil {
			return fmt.Errorf("replay: refused of event %s: %w", uuid.UUID(r.id), err)
		}
	}
	if err := w.recordedStats(&f); err != nil {
		return fmt.Errorf("replay: stats of event %s: %w", uuid.UUID(r.id), err)
	}
	d := w.c.Candidate.DecideWith(q, &w.rec)
	if w.compare(&r, &d) && w.p.wantsSample(r.id, w.c.Samples) {
		s := w.sample(&r, &d)
		s.ReceivedAt = receivedAt
		w.p.addSample(s, w.c.Samples)
	}
	return nil
}

func (w *worker) recordedStats(f *fieldReader) error {
	read, unread := w.rec.Read[:0], w.rec.Unread[:0]
	var err error
	if b := f.jsonb(); b != nil {
		if read, err = decodeStatReads(b, read); err != nil {
			return err
		}
	}
	if b := f.jsonb(); b != nil {
		if unread, err = decodeStatReads(b, unread); err != nil {
			return err
		}
	}
	known, _, err := f.strs(w.rec.Known[:0])
	w.rec = decider.RecordedStats{Read: read, Unread: unread, Known: known}
	return err
}

// compare counts the difference between the recorded answer r and the
// candidate's d and reports whether the answer changed.
func (w *worker) compare(r *recorded, d *decider.Decision) bool {
	s := &w.p.s
	s.Requests++
	s.Before.add(r.outcome)
	s.After.add(d.Outcome)
	if w.rec.Unknown > 0 {
		s.StatsUnrecorded++
	}
	w.countRules(d)
	beforeReject, afterReject := r.outcome == decider.OutcomeReject, d.Outcome == decider.OutcomeReject
	changed := r.outcome != d.Outcome || beforeReject && r.errorCode != int64(d.ErrorCode)
	w.distinctMembers()
	for _, m := range w.members {
		before := beforeReject || refusalOf(w.before, m)
		after := afterReject || refusalOf(d.Refused, m)
		switch {
		case after && !before:
			s.MembersNewlyRefused++
		case before && !after:
			s.MembersNewlyAllowed++
		}
		if !beforeReject && !afterReject && before != after {
			changed = true
		}
	}
	switch {
	case afterReject && !beforeReject:
		s.NewlyRejected++
	case beforeReject && !afterReject:
		s.NewlyAllowed++
	}
	if changed {
		s.Changed++
		q := &w.req
		w.key = append(append(append(w.key[:0], q.App...), 0), q.Operator...)
		w.p.ops.add(w.key)
		w.key = append(append(append(w.key[:0], q.App...), 0), q.GroupID...)
		w.p.grps.add(w.key)
	}
	return changed
}

// countRules adds d's rule effects to the per-rule counts.
func (w *worker) countRules(d *decider.Decision) {
	if d.RejectRule == "" && len(d.Refused) == 0 && len(d.Shadow) == 0 && len(d.RuleErrors) == 0 {
		return
	}
	rules := w.p.rules
	at := func(name string) *RuleCount {
		for i := range rules {
			if rules[i].Rule == name {
				return &rules[i]
			}
		}
		return &RuleCount{} // not a rule of the candidate: cannot happen
	}
	if d.RejectRule != "" {
		at(d.RejectRule).RequestsRejected++
	}
	for _, rf := range d.Refused {
		at(rf.Rule).MembersRefused++
	}
	for _, sh := range d.Shadow {
		rc := at(sh.Rule)
		if sh.Kind == decider.KindReject {
			rc.RequestsRejected++
		} else {
			rc.MembersRefused += int64(len(sh.Members))
		}
	}
	for _, name := range d.RuleErrors {
		at(name).Errors++
	}
}

// distinctMembers sets w.members to the request's members, once each.
func (w *worker) distinctMembers() {
	ms := w.req.Members
	w.members = w.members[:0]
	if len(ms) <= 16 {
		for _, m := range ms {
			if !slices.Contains(w.members, m) {
				w.members = append(w.members, m)
			}
		}
		return
	}
	clear(w.seen)
	for _, m := range ms {
		if _, ok := w.seen[m]; !ok {
			w.seen[m] = struct{}{}
			w.members = append(w.members, m)
		}
	}
}

func refusalOf(rs []decider.Refusal, m string) bool {
	for i := range rs {
		if rs[i].Member == m {
			return true
		}
	}
	return false
}

// sample copies a changed invite out of the batch's bytes.
func (w *worker) sample(r *recorded, d *decider.Decision) Sample {
	q := &w.req
	s := Sample{EventID: uuid.UUID(r.id).String(), App: strings.Clone(q.App), Operator: strings.Clone(q.Operator),
		GroupID: strings.Clone(q.GroupID), GroupType: strings.Clone(q.GroupType), id: r.id,
		Before: Answer{Outcome: r.outcome, RejectRule: strings.Clone(r.rejectRule), ErrorCode: r.errorCode},
		After:  Answer{Outcome: d.Outcome, RejectRule: d.RejectRule, ErrorCode: int64(d.ErrorCode)}}
	s.Before.Outcome = decider.Outcome(strings.Clone(string(r.outcome)))
	for _, m := range q.Members {
		s.Members = append(s.Members, strings.Clone(m))
	}
	for _, rf := range w.before {
		s.Before.Refused = append(s.Before.Refused, decider.Refusal{Member: strings.Clone(rf.Member), Rule: strings.Clone(rf.Rule)})
	}
	for _, rf := range d.Refused {
		s.After.Refused = append(s.After.Refused, decider.Refusal{Member: strings.Clone(rf.Member), Rule: rf.Rule})
	}
	return s
}
