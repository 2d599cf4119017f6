package decider

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// ErrOutOfOrder is returned by Fold.Apply for a sequence at or below the
// fold's position: events are applied once, in stream order.
var ErrOutOfOrder = errors.New("policy event out of order")

// Fold is the state of one app's policy log while its events are applied:
// the document in force and the entries of its lists. It is not safe for
// concurrent use; the Snapshots it returns are.
//
// A replaced event compiles its document (a list the document declares
// with entries takes exactly those; a list it declares empty keeps the
// entries it has, so a list kept with list events survives a rules change;
// a list it does not declare is dropped). A list event changes only the
// shards of the list it touches; the rules' compiled CEL programs are
// reused. Snapshot makes the changes visible as a new immutable Snapshot,
// so a burst of events costs one snapshot.
type Fold struct {
	gen      uint64
	base     *Snapshot // compiled rules and the sets their nodes reference; nil before any policy
	doc      *Document // the authored document in force
	work     map[string]listState
	revision uint64 // sequence of the last applied event
	position uint64 // sequence of the last event seen, applied or not
	changed  bool
}

// listState is a list changed since base: a set taken from another snapshot
// or a sharded set being changed.
type listState struct {
	set *stringSet
	sh  *shardedSet
}

// NewFold returns a fold starting from s (nil: an empty log) at position,
// the last sequence s covers (at least s.Revision()).
func NewFold(s *Snapshot, position uint64) *Fold {
	f := &Fold{gen: newGen(), base: s, work: map[string]listState{}}
	if s != nil {
		f.doc, f.revision = s.doc, s.revision
	}
	f.position = max(position, f.revision)
	return f
}

// Revision returns the sequence of the last applied event (of the starting
// snapshot when none was applied).
func (f *Fold) Revision() uint64 { return f.revision }

// Position returns the sequence of the last event given to Apply, applied or
// rejected.
func (f *Fold) Position() uint64 { return f.position }

// Document returns the authored document in force, nil before any.
func (f *Fold) Document() *Document { return f.doc }

// Apply applies c, the event at stream sequence seq. A change that is not
// valid against the current state returns a *ChangeError and changes
// nothing but the position; c should come from ParseChange (Apply checks
// its shape again).
func (f *Fold) Apply(c *Change, seq uint64) error {
	if seq <= f.position {
		return fmt.Errorf("%w: sequence %d, position %d", ErrOutOfOrder, seq, f.position)
	}
	f.position = seq
	if err := c.checkShape(); err != nil {
		return err
	}
	return f.apply(c, seq)
}

// Skip records that the event at seq is not applied (its signature or
// origin was refused before it was parsed): only the position advances.
func (f *Fold) Skip(seq uint64) error {
	if seq <= f.position {
		return fmt.Errorf("%w: sequence %d, position %d", ErrOutOfOrder, seq, f.position)
	}
	f.position = seq
	return nil
}

// apply applies c, whose shape is checked, at sequence seq.
func (f *Fold) apply(c *Change, seq uint64) error {
	if c.Kind == ChangeReplaced {
		return f.replace(c.Document, seq)
	}
	if err := c.checkList(f.doc); err != nil {
		return err
	}
	sh := f.mutableList(c.List)
	if c.Kind == ChangeListAdded {
		sh = sh.add(c.IDs, f.gen)
	} else {
		sh = sh.remove(c.IDs, f.gen)
	}
	f.work[c.List] = listState{sh: sh}
	f.revision, f.changed = seq, true
	return nil
}

// current returns the entries list name has now (nil when it has none).
func (f *Fold) current(name string) listState {
	if ls, ok := f.work[name]; ok {
		return ls
	}
	if f.base == nil {
		return listState{}
	}
	return listState{set: f.base.sets[name]}
}

// mutableList returns list name as a sharded set this fold may change.
func (f *Fold) mutableList(name string) *shardedSet {
	ls := f.current(name)
	if ls.sh == nil {
		ls.sh = ls.set.sharded(f.gen)
	}
	return ls.sh.mutable(f.gen)
}

// replace compiles doc with placeholders for the lists it keeps.
func (f *Fold) replace(doc *Document, seq uint64) error {
	compiled := &Document{APIVersion: doc.APIVersion, Rules: doc.Rules, Lists: make(map[string][]string, len(doc.Lists))}
	work := map[string]listState{}
	for name, entries := range doc.Lists {
		compiled.Lists[name] = entries
		if len(entries) > 0 {
			continue
		}
		if ls := f.current(name); ls.set != nil || ls.sh != nil {
			work[name] = ls
		}
	}
	s, err := Compile(compiled, seq)
	if err != nil {
		return &ChangeError{Reason: RejectInvalidPolicy, Err: err}
	}
	f.base, f.doc, f.work = s, doc, work
	f.revision, f.changed = seq, true
	return nil
}

// Snapshot returns the snapshot of everything applied so far (nil before
// any policy). It is cheap when nothing changed since the last call.
func (f *Fold) Snapshot() *Snapshot {
	if f.base == nil || !f.changed {
		return f.base
	}
	sets := maps.Clone(f.base.sets)
	subst := map[*stringSet]*stringSet{}
	for name, ls := range f.work {
		v := ls.set
		if ls.sh != nil {
			v = ls.sh.frozen()
		}
		if old := sets[name]; old != v {
			subst[old], sets[name] = v, v
		}
	}
	s := f.base.derive(f.revision, f.doc, sets, subst)
	f.base, f.work, f.changed = s, map[string]listState{}, false
	f.gen = newGen() // what this fold built so far now belongs to s
	return s
}

// derive returns a snapshot with s's rules reading sets, where every set
// in subst is replaced. Rule trees are copied only along the paths that
// reach a replaced set; CEL programs are shared.
func (s *Snapshot) derive(revision uint64, doc *Document, sets map[string]*stringSet, subst map[*stringSet]*stringSet) *Snapshot {
	n := &Snapshot{revision: revision, doc: doc, sets: sets, nodes: s.nodes, memos: s.memos,
		rules: slices.Clone(s.rules), listsVal: listsValue(sets), stats: s.stats, statNames: s.statNames}
	if len(subst) > 0 {
		for i := range n.rules {
			n.rules[i].root = n.rules[i].root.substitute(subst)
		}
	}
	n.pool.New = func() any { return n.newEvaluation() }
	return n
}

// substitute returns n with the sets in subst replaced, n itself when its
// tree reads none of them.
func (n *node) substitute(subst map[*stringSet]*stringSet) *node {
	var kids []*node
	for i, k := range n.kids {
		if c := k.substitute(subst); c != k {
			if kids == nil {
				kids = slices.Clone(n.kids)
			}
			kids[i] = c
		}
	}
	set, ok := subst[n.set]
	if kids == nil && (!ok || n.set == nil) {
		return n
	}
	c := *n
	if kids != nil {
		c.kids = kids
	}
	if ok && n.set != nil {
		c.set = set
	}
	return &c
}

// listsValue is the CEL value of the lists variable.
func listsValue(sets map[string]*stringSet) ref.Val {
	vals := make(map[ref.Val]ref.Val, len(sets))
	for name, set := range sets {
		vals[types.String(name)] = set
	}
	return types.NewRefValMap(types.DefaultTypeAdapter, vals)
}

// Apply returns the snapshot after applying c (the event at sequence seq)
// to s, or a *ChangeError and no snapshot when c is not valid against s.
// s may be nil (an empty log). To apply many events, use a Fold.
func (s *Snapshot) Apply(c *Change, seq uint64) (*Snapshot, error) {
	f := NewFold(s, 0)
	if err := f.Apply(c, seq); err != nil {
		return nil, err
	}
	return f.Snapshot(), nil
}

// ApplyEvent parses and applies the event at sequence seq whose subject
// names kind (see ParsePolicySubject): what a follower of the stream calls
// for every message. It returns the parsed change when the data parses
// (even if it is then rejected), and a *ChangeError when the event is not
// applied; the position advances either way.
func (f *Fold) ApplyEvent(kind string, data []byte, seq uint64) (*Change, error) {
	if seq <= f.position {
		return nil, fmt.Errorf("%w: sequence %d, position %d", ErrOutOfOrder, seq, f.position)
	}
	c, err := ParseChange(data)
	if err == nil && c.Kind != kind {
		err = malformed("the subject says %q but the event's kind is %q", kind, c.Kind)
	}
	f.position = seq
	if err != nil {
		return c, err
	}
	return c, f.apply(c, seq) // ParseChange checked the shape
}
