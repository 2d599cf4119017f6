package decider

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// foldRules reads the lists natively (member in, operator in, with an
// enforced rule and its shadow twin sharing a memo slot) and through CEL
// leaves (size, exists), so both paths see list changes.
const foldRules = `
rules:
  - name: banned-operator
    reject: operator in lists.banned && !(operator in lists.staff)
    error_code: 10101
  - name: crowd
    reject: size(lists.banned) > 1000 && members.exists(m, m in lists.staff) && platform == "Web"
  - name: banned-member
    refuse_member: member in lists.banned
  - name: banned-member-trial
    refuse_member: member in lists.banned || member in ["lit-1", "lit-2"]
    mode: shadow
  - name: staff-via-rest
    refuse_member: platform == "RESTAPI" && member in lists.staff
`

func foldDoc(t testing.TB, lists string) *Document {
	t.Helper()
	doc, err := ParseDocument([]byte("apiVersion: invitegate/v1\nlists:\n" + lists + foldRules))
	require.NoError(t, err)
	return doc
}

func replaced(doc *Document) *Change { return &Change{Kind: ChangeReplaced, Document: doc} }
func added(list string, ids ...string) *Change {
	return &Change{Kind: ChangeListAdded, List: list, IDs: ids}
}
func removed(list string, ids ...string) *Change {
	return &Change{Kind: ChangeListRemoved, List: list, IDs: ids}
}

// model is the expected state: the document and each list's entries.
type model struct {
	doc   *Document
	lists map[string]map[string]bool
}

func (m *model) apply(c *Change) {
	switch c.Kind {
	case ChangeReplaced:
		lists := map[string]map[string]bool{}
		for name, entries := range c.Document.Lists {
			set := map[string]bool{}
			if len(entries) == 0 && m.lists[name] != nil {
				set = m.lists[name]
			}
			for _, e := range entries {
				set[e] = true
			}
			lists[name] = set
		}
		m.doc, m.lists = c.Document, lists
	case ChangeListAdded:
		for _, id := range c.IDs {
			m.lists[c.List][id] = true
		}
	case ChangeListRemoved:
		for _, id := range c.IDs {
			delete(m.lists[c.List], id)
		}
	}
}

// compiled compiles the model as one plain document (the reference).
func (m *model) compiled(t testing.TB, revision uint64) *Snapshot {
	t.Helper()
	doc := *m.doc
	doc.Lists = map[string][]string{}
	for name, set := range m.lists {
		doc.Lists[name] = slices.Sorted(maps.Keys(set))
	}
	s, err := Compile(&doc, revision)
	require.NoError(t, err)
	return s
}

func requireSameState(t *testing.T, m *model, got *Snapshot, rng *rand.Rand, ids []string) {
	t.Helper()
	want := m.compiled(t, got.Revision())
	require.Equal(t, want.ListNames(), got.ListNames())
	for _, name := range got.ListNames() {
		require.Equal(t, len(m.lists[name]), got.ListSize(name), name)
	}
	for range 40 {
		r := randomFoldRequest(rng, ids)
		require.Equal(t, want.Decide(r), got.Decide(r), "%+v", r)
	}
}

func randomFoldRequest(rng *rand.Rand, ids []string) *Request {
	pick := func() string { return ids[rng.IntN(len(ids))] }
	members := make([]string, 1+rng.IntN(8))
	for i := range members {
		members[i] = pick()
	}
	platforms := []string{"Web", "RESTAPI", "iOS"}
	return &Request{App: "1", Operator: pick(), Members: members, Platform: platforms[rng.IntN(len(platforms))]}
}

func TestFoldListEvents(t *testing.T) {
	t.Parallel()
	f := NewFold(nil, 0)
	require.Nil(t, f.Snapshot())
	requireChangeError(t, f.Apply(added("banned", "x"), 1), RejectNoPolicy, "no policy yet")
	require.Equal(t, uint64(1), f.Position())
	require.Zero(t, f.Revision())

	require.NoError(t, f.Apply(replaced(foldDoc(t, "  banned: [spammer1]\n  staff: [admin]\n")), 2))
	s2 := f.Snapshot()
	require.Equal(t, uint64(2), s2.Revision())
	require.Equal(t, OutcomeReject, s2.Decide(req("spammer1", "x")).Outcome)

	require.NoError(t, f.Apply(added("banned", "u1", "u2", "u1"), 3))
	require.NoError(t, f.Apply(removed("banned", "spammer1", "never-there"), 4))
	requireChangeError(t, f.Apply(added("bots", "b"), 5), RejectUnknownList, `list "bots" is not in the policy`)
	s := f.Snapshot()
	require.Equal(t, uint64(4), s.Revision(), "the rejected event is not a revision")
	require.Equal(t, uint64(5), f.Position())
	require.Equal(t, []string{"u1", "u2"}, s.ListEntries("banned"))
	d := s.Decide(req("spammer1", "u1", "ok"))
	require.Equal(t, OutcomePartial, d.Outcome)
	require.Equal(t, []Refusal{{Member: "u1", Rule: "banned-member"}}, d.Refused)
	require.Equal(t, uint64(4), d.Revision)
	require.Same(t, s, f.Snapshot(), "nothing changed")

	require.Equal(t, []string{"spammer1"}, s2.ListEntries("banned"), "an older snapshot never changes")
	require.ErrorIs(t, f.Apply(added("banned", "late"), 3), ErrOutOfOrder)
}

func TestFoldInvalidReplaceKeepsTheLastGoodPolicy(t *testing.T) {
	t.Parallel()
	f := NewFold(nil, 0)
	require.NoError(t, f.Apply(replaced(foldDoc(t, "  banned: [a]\n  staff: []\n")), 1))
	good := f.Snapshot()
	bad := foldDoc(t, "  banned: [a]\n  staff: []\n")
	bad.Rules[0].Reject = "operator in lists.nope"
	err := f.Apply(replaced(bad), 2)
	requireChangeError(t, err, RejectInvalidPolicy, `undefined list "nope"`)
	require.Same(t, good, f.Snapshot())
	require.Same(t, good.Document(), f.Document())
	requireChangeError(t, f.Apply(&Change{Kind: ChangeListAdded, List: "banned"}, 3), RejectMalformed, "at least one id")
}

func TestFoldReplaceKeepsDeclaredEmptyLists(t *testing.T) {
	t.Parallel()
	f := NewFold(nil, 0)
	require.NoError(t, f.Apply(replaced(foldDoc(t, "  banned: []\n  staff: [admin]\n  gone: [g]\n")), 1))
	require.NoError(t, f.Apply(added("banned", "u1", "u2"), 2))
	require.NoError(t, f.Apply(added("staff", "ops"), 3))
	// banned declared empty: kept; staff given entries: exactly those;
	// gone not declared: dropped; fresh declared empty: empty.
	next := foldDoc(t, "  banned: []\n  staff: [root]\n  fresh: []\n")
	next.Rules[0].ErrorCode = 10102
	require.NoError(t, f.Apply(replaced(next), 4))
	s := f.Snapshot()
	require.Equal(t, []string{"banned", "fresh", "staff"}, s.ListNames())
	require.Equal(t, []string{"u1", "u2"}, s.ListEntries("banned"))
	require.Equal(t, []string{"root"}, s.ListEntries("staff"))
	require.Empty(t, s.ListEntries("fresh"))
	require.Same(t, next, s.Document(), "the authored document")
	d := s.Decide(req("u2", "x"))
	require.Equal(t, 10102, d.ErrorCode, "the new rules")
	require.Equal(t, []Refusal{{Member: "u1", Rule: "banned-member"}}, s.Decide(req("root", "u1")).Refused)
}

// TestFoldEqualsCompile applies random events, across the thresholds where a
// list changes representation (slice, one map, shards, resharding up and
// down), and compares every snapshot with the reference: the effective
// document compiled from scratch. Snapshots taken after every event and
// only at the end (one batch) agree.
func TestFoldEqualsCompile(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 11))
	ids := make([]string, 30000)
	for i := range ids {
		ids[i] = fmt.Sprintf("user%05d", i)
	}
	ids = append(ids, "admin", "lit-1")
	var m model
	each, batched := NewFold(nil, 0), NewFold(nil, 0)
	var seq uint64
	step := func(c *Change) {
		seq++
		m.apply(c)
		require.NoError(t, each.Apply(c, seq))
		require.NoError(t, batched.Apply(c, seq))
	}
	step(replaced(foldDoc(t, "  banned: [user00001, user00002]\n  staff: [admin]\n")))
	shapes := map[[3]bool]bool{}
	sizes := []int{1, 3, 10, 700, 5000, 12000, 3, 1}
	for round := range 60 {
		n := sizes[round%len(sizes)]
		batch := make([]string, n)
		for i := range batch {
			batch[i] = ids[rng.IntN(len(ids))]
		}
		list := "banned"
		if round%5 == 4 {
			list = "staff"
		}
		if round%3 == 2 || (round > 40 && round%2 == 1) {
			step(removed(list, batch...))
		} else {
			step(added(list, batch...))
		}
		if round == 30 {
			step(replaced(foldDoc(t, "  banned: []\n  staff: [admin, user00009]\n")))
		}
		requireSameState(t, &m, each.Snapshot(), rng, ids)
		set := each.Snapshot().sets["banned"]
		shapes[[3]bool{set.small != nil, set.m != nil, set.sh != nil}] = true
	}
	require.Len(t, shapes, 3, "the list went through every representation: %v", shapes)
	for round := 0; m.lists["banned"] != nil && len(m.lists["banned"]) > 0 && round < 20; round++ {
		step(removed("banned", slices.Collect(maps.Keys(m.lists["banned"]))[:max(1, len(m.lists["banned"])/2)]...))
		requireSameState(t, &m, each.Snapshot(), rng, ids)
	}
	requireSameState(t, &m, batched.Snapshot(), rng, ids)
	require.Equal(t, each.Snapshot().Revision(), batched.Snapshot().Revision())
}

func TestSnapshotApply(t *testing.T) {
	t.Parallel()
	s, err := (*Snapshot)(nil).Apply(replaced(foldDoc(t, "  banned: []\n  staff: []\n")), 5)
	require.NoError(t, err)
	s2, err := s.Apply(added("banned", "x"), 6)
	require.NoError(t, err)
	require.True(t, s2.ListHas("banned", "x"))
	require.False(t, s.ListHas("banned", "x"))
	_, err = s2.Apply(added("nope", "x"), 7)
	requireChangeError(t, err, RejectUnknownList, "nope")
	_, err = s2.Apply(added("banned", "y"), 6)
	require.ErrorIs(t, err, ErrOutOfOrder)
}

func TestFoldFromCompiledBigList(t *testing.T) {
	t.Parallel()
	doc := foldDoc(t, "  banned: []\n  staff: [admin]\n")
	big := make([]string, 20000)
	for i := range big {
		big[i] = fmt.Sprintf("b%05d", i)
	}
	doc.Lists["banned"] = big
	base, err := Compile(doc, 1)
	require.NoError(t, err)
	f := NewFold(base, 3)
	require.Equal(t, uint64(3), f.Position())
	require.ErrorIs(t, f.Apply(added("banned", "x"), 3), ErrOutOfOrder)
	require.NoError(t, f.Apply(added("banned", "x"), 4))
	require.NoError(t, f.Apply(removed("banned", "b00000"), 5))
	s := f.Snapshot()
	require.Equal(t, 20000, s.ListSize("banned"))
	require.Equal(t, 20000, base.ListSize("banned"), "the base is untouched")
	require.True(t, base.ListHas("banned", "b00000"))
	require.False(t, s.ListHas("banned", "b00000"))
	require.Equal(t, []Refusal{{Member: "x", Rule: "banned-member"}}, s.Decide(req("admin", "x", "b00000")).Refused)
}

func TestFoldApplyEvent(t *testing.T) {
	t.Parallel()
	f := NewFold(nil, 0)
	c, err := f.ApplyEvent(ChangeReplaced, []byte(`{"kind":"replaced","document":`+changeDoc+`}`), 1)
	require.NoError(t, err)
	require.Equal(t, ChangeReplaced, c.Kind)
	c, err = f.ApplyEvent(ChangeListRemoved, []byte(`{"kind":"list.added","list":"banned","ids":["a"]}`), 2)
	requireChangeError(t, err, RejectMalformed, `the subject says "list.removed" but the event's kind is "list.added"`)
	require.NotNil(t, c)
	_, err = f.ApplyEvent(ChangeListAdded, []byte(`{`), 3)
	requireChangeError(t, err, RejectMalformed, "decode")
	_, err = f.ApplyEvent(ChangeListAdded, []byte(`{"kind":"list.added","list":"banned","ids":["a"]}`), 4)
	require.NoError(t, err)
	_, err = f.ApplyEvent(ChangeListAdded, []byte(`{"kind":"list.added","list":"banned","ids":["b"]}`), 4)
	require.ErrorIs(t, err, ErrOutOfOrder)
	require.Equal(t, uint64(4), f.Position())
	require.Equal(t, uint64(4), f.Revision())
	require.Equal(t, []string{"a"}, f.Snapshot().ListEntries("banned"))
}

// TestFoldWhileDeciding decides with each published snapshot from other
// goroutines while the fold goes on (run with -race): a fold never changes
// what a snapshot it returned reads.
func TestFoldWhileDeciding(t *testing.T) {
	t.Parallel()
	f := NewFold(nil, 0)
	require.NoError(t, f.Apply(replaced(foldDoc(t, "  banned: []\n  staff: []\n")), 1))
	engine := NewEngine(FailOpen, nil)
	engine.Load(f.Snapshot())
	done := make(chan struct{})
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				s := engine.Snapshot()
				n := s.ListSize("banned")
				if got := len(s.ListEntries("banned")); got != n {
					errs <- fmt.Errorf("revision %d: %d entries, size %d", s.Revision(), got, n)
					return
				}
				s.Decide(req("u1", "u2", "u3000"))
			}
		}()
	}
	for i := range 200 {
		ids := make([]string, 50)
		for j := range ids {
			ids[j] = fmt.Sprintf("u%d", i*50+j)
		}
		require.NoError(t, f.Apply(added("banned", ids...), uint64(i+2)))
		engine.Load(f.Snapshot())
	}
	close(done)
	for range 4 {
		require.NoError(t, <-errs)
	}
	require.Equal(t, 10000, engine.Snapshot().ListSize("banned"))
}

// TestFoldKeepsTheStatsRulesRead: a snapshot derived by a list change
// still says which statistics its rules read (the ingress keeps only those,
// so losing them silently turned every stats rule off).
func TestFoldKeepsTheStatsRulesRead(t *testing.T) {
	t.Parallel()
	doc, err := ParseDocument([]byte("apiVersion: invitegate/v1\nlists:\n  vip: []\nrules:\n" +
		"  - name: flood\n    reject: stats.operator_invites_1h >= 100 && !(operator in lists.vip)\n"))
	require.NoError(t, err)
	f := NewFold(nil, 0)
	require.NoError(t, f.Apply(replaced(doc), 1))
	want := []Stat{StatOperatorInvites1h}
	require.Equal(t, want, f.Snapshot().Stats())
	require.NoError(t, f.Apply(added("vip", "alice"), 2))
	require.Equal(t, want, f.Snapshot().Stats(), "after a list change")
	s, err := f.Snapshot().Apply(removed("vip", "alice"), 3)
	require.NoError(t, err)
	require.Equal(t, want, s.Stats(), "Snapshot.Apply")
}
