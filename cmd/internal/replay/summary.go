package replay

import (
	"bytes"
	"slices"
	"strings"
	"time"

	"github.com/invitegate/invitegate/decider"
)

// Summary is the difference a candidate makes over the recorded invites.
//
// A member counts as refused when its request was rejected or it was
// refused by name. A request is changed when the answer IM gets differs:
// the outcome, the refused members, or a rejection's error code.
type Summary struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	App   string    `json:"app,omitempty"`

	Requests int64 `json:"requests"` // invites replayed and compared
	// Limited counts the invites of the window that a bound (limit_hit:
	// --max-members, --decision-timeout) kept the policy from deciding:
	// their recorded answer is the fail mode's, so they are not replayed
	// and not in Requests.
	Limited       int64 `json:"limited"`
	Changed       int64 `json:"changed"`
	NewlyRejected int64 `json:"newly_rejected"` // rejected by the candidate, not before
	NewlyAllowed  int64 `json:"newly_allowed"`  // rejected before, not by the candidate
	// Members refused now and not before, and the reverse.
	MembersNewlyRefused int64 `json:"members_newly_refused"`
	MembersNewlyAllowed int64 `json:"members_newly_allowed"`
	// StatsUnrecorded counts requests where the candidate read a statistic
	// the row did not record (older rows, or one the policy in force did
	// not read); it read 0.
	StatsUnrecorded int64 `json:"stats_unrecorded"`

	Before OutcomeCounts `json:"before"`
	After  OutcomeCounts `json:"after"`

	ByRule []RuleCount `json:"by_rule"` // every rule of the candidate, document order

	// The operators and groups with the most changed requests. Exact when
	// TopExact; else lower bounds, the heaviest hitters being kept.
	TopOperators []KeyCount `json:"top_operators"`
	TopGroups    []KeyCount `json:"top_groups"`
	TopExact     bool       `json:"top_exact"`

	Samples []Sample `json:"samples"` // a few changed invites, oldest ids first

	ElapsedSeconds float64 `json:"elapsed_seconds"`
}

// OutcomeCounts counts requests by outcome.
type OutcomeCounts struct {
	Allow   int64 `json:"allow"`
	Partial int64 `json:"partial"`
	Reject  int64 `json:"reject"`
}

func (o *OutcomeCounts) add(out decider.Outcome) {
	switch out {
	case decider.OutcomeReject:
		o.Reject++
	case decider.OutcomePartial:
		o.Partial++
	default:
		o.Allow++
	}
}

// RuleCount is what one candidate rule did over the window; for a shadow
// rule, what it would have done.
type RuleCount struct {
	Rule             string `json:"rule"`
	Kind             string `json:"kind"`
	Mode             string `json:"mode"`
	RequestsRejected int64  `json:"requests_rejected"`
	MembersRefused   int64  `json:"members_refused"`
	Errors           int64  `json:"errors"` // requests on which the rule failed to evaluate
}

// KeyCount is an operator or group and its changed requests.
type KeyCount struct {
	App     string `json:"app"`
	Key     string `json:"key"`
	Changed int64  `json:"changed"`
}

// Sample is one changed invite.
type Sample struct {
	EventID    string    `json:"event_id"`
	ReceivedAt time.Time `json:"received_at"`
	App        string    `json:"app"`
	Operator   string    `json:"operator"`
	GroupID    string    `json:"group_id"`
	GroupType  string    `json:"group_type"`
	Members    []string  `json:"members"`
	Before     Answer    `json:"before"`
	After      Answer    `json:"after"`

	id [16]byte
}

// Answer is an invite's decision, recorded or replayed.
type Answer struct {
	Outcome    decider.Outcome   `json:"outcome"`
	RejectRule string            `json:"reject_rule,omitempty"`
	ErrorCode  int64             `json:"error_code"`
	Refused    []decider.Refusal `json:"refused,omitempty"`
}

// partial is one worker's share of the summary.
type partial struct {
	s         Summary
	rules     []RuleCount
	ops, grps *topCounter
	samples   []Sample
}

func newPartial(c *Config) *partial {
	p := &partial{ops: newTopCounter(c.TopCapacity), grps: newTopCounter(c.TopCapacity)}
	for _, r := range c.Candidate.Rules() {
		p.rules = append(p.rules, RuleCount{Rule: r.Name, Kind: r.Kind, Mode: r.Mode})
	}
	return p
}

// wantsSample reports whether an invite of id would be among the n
// samples of smallest event id.
func (p *partial) wantsSample(id [16]byte, n int) bool {
	return len(p.samples) < n || bytes.Compare(id[:], p.samples[len(p.samples)-1].id[:]) < 0
}

// addSample keeps s if it is among the n of smallest event id.
func (p *partial) addSample(s Sample, n int) {
	i, _ := slices.BinarySearchFunc(p.samples, s, func(a, b Sample) int { return bytes.Compare(a.id[:], b.id[:]) })
	p.samples = slices.Insert(p.samples, i, s)
	if len(p.samples) > n {
		p.samples = p.samples[:n]
	}
}

// merge folds the workers' partials into the summary.
func merge(c *Config, parts []*partial) Summary {
	out := Summary{Since: c.Since.UTC(), Until: c.Until.UTC(), App: c.App, TopExact: true}
	ops, grps := newTopCounter(0), newTopCounter(0)
	var samples []Sample
	for i, p := range parts {
		s := &p.s
		out.Requests += s.Requests
		out.Limited += s.Limited
		out.Changed += s.Changed
		out.NewlyRejected += s.NewlyRejected
		out.NewlyAllowed += s.NewlyAllowed
		out.MembersNewlyRefused += s.MembersNewlyRefused
		out.MembersNewlyAllowed += s.MembersNewlyAllowed
		out.StatsUnrecorded += s.StatsUnrecorded
		addCounts(&out.Before, s.Before)
		addCounts(&out.After, s.After)
		if i == 0 {
			out.ByRule = slices.Clone(p.rules)
		} else {
			for j, r := range p.rules {
				out.ByRule[j].RequestsRejected += r.RequestsRejected
				out.ByRule[j].MembersRefused += r.MembersRefused
				out.ByRule[j].Errors += r.Errors
			}
		}
		out.TopExact = out.TopExact && !p.ops.pruned && !p.grps.pruned
		ops.absorb(p.ops)
		grps.absorb(p.grps)
		samples = append(samples, p.samples...)
	}
	out.TopOperators, out.TopGroups = ops.top(c.Top), grps.top(c.Top)
	slices.SortFunc(samples, func(a, b Sample) int { return bytes.Compare(a.id[:], b.id[:]) })
	out.Samples = samples[:min(len(samples), c.Samples)]
	if out.Samples == nil {
		out.Samples = []Sample{}
	}
	return out
}

func addCounts(dst *OutcomeCounts, src OutcomeCounts) {
	dst.Allow += src.Allow
	dst.Partial += src.Partial
	dst.Reject += src.Reject
}

// topCounter counts changed requests per key with at most capacity keys
// (0: unbounded). When full it drops the lighter half, after subtracting
// the largest count dropped from every key it keeps (Misra-Gries): a key
// with more than total/capacity changes is never lost, and counts become
// lower bounds.
type topCounter struct {
	m        map[string]*int64
	capacity int
	pruned   bool
}

func newTopCounter(capacity int) *topCounter {
	return &topCounter{m: map[string]*int64{}, capacity: capacity}
}

// add counts one change for key; the map keeps a copy of it.
func (t *topCounter) add(key []byte) {
	if c := t.m[string(key)]; c != nil {
		*c++
		return
	}
	if t.capacity > 0 && len(t.m) >= t.capacity {
		t.prune()
	}
	n := int64(1)
	t.m[string(key)] = &n
}

func (t *topCounter) prune() {
	counts := make([]int64, 0, len(t.m))
	for _, v := range t.m {
		counts = append(counts, *v)
	}
	slices.Sort(counts)
	cut := counts[len(counts)/2]
	for k, v := range t.m {
		if *v <= cut {
			delete(t.m, k)
		} else {
			*v -= cut
		}
	}
	t.pruned = true
}

func (t *topCounter) absorb(o *topCounter) {
	for k, v := range o.m {
		if c := t.m[k]; c != nil {
			*c += *v
		} else {
			n := *v
			t.m[k] = &n
		}
	}
}

// top returns the n keys with the most changes, most first (ties by app
// and key), in one pass over the keys.
func (t *topCounter) top(n int) []KeyCount {
	type entry struct {
		key string
		c   int64
	}
	less := func(a, b entry) bool { return a.c > b.c || a.c == b.c && a.key < b.key }
	best := make([]entry, 0, n+1)
	for k, v := range t.m {
		e := entry{k, *v}
		if len(best) == n && !less(e, best[n-1]) {
			continue
		}
		i, _ := slices.BinarySearchFunc(best, e, func(a, b entry) int {
			if less(a, b) {
				return -1
			}
			return 1
		})
		best = slices.Insert(best, i, e)
		if len(best) > n {
			best = best[:n]
		}
	}
	out := make([]KeyCount, len(best))
	for i, e := range best {
		app, key, _ := strings.Cut(e.key, "\x00")
		out[i] = KeyCount{App: app, Key: key, Changed: e.c}
	}
	return out
}
