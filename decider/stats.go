package decider

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// VarStats is the CEL variable of traffic statistics: stats.NAME is an int,
// a sliding-window count the projector's aggregator keeps and every ingress
// holds in memory (see StatsSource). Unknown groups and idle keys read 0.
const VarStats = "stats"

// Stat is one statistic a rule may read as stats.NAME.
type Stat uint8

// The statistics. The key of each is its StatSubject: the request's
// operator, the member being judged, or the group.
const (
	StatOperatorInvites1h  Stat = iota // members this operator invited in the last hour, allowed or not
	StatOperatorInvites24h             // the same over 24 hours
	StatOperatorRefused24h             // members refused for this operator (a rejection refuses all) in 24 hours
	StatMemberInvited1h                // how often this member was invited in the last hour, across groups (refuse_member only)
	StatGroupInvites1h                 // members invited into this group in the last hour
	StatGroupSize                      // members now in the group (joins and allowed invites minus exits)
	NumStats
)

var statNames = [NumStats]string{
	"operator_invites_1h", "operator_invites_24h", "operator_refused_24h",
	"member_invited_1h", "group_invites_1h", "group_size",
}

// String returns the name rules use after "stats.".
func (s Stat) String() string {
	if s < NumStats {
		return statNames[s]
	}
	return fmt.Sprintf("Stat(%d)", s)
}

// StatByName returns the Stat called name.
func StatByName(name string) (Stat, bool) {
	i := slices.Index(statNames[:], name)
	return Stat(i), i >= 0
}

// StatSubject is what a statistic is counted per.
type StatSubject uint8

const (
	SubjectOperator StatSubject = iota
	SubjectMember
	SubjectGroup
)

// Subject returns what s is counted per.
func (s Stat) Subject() StatSubject {
	switch s {
	case StatMemberInvited1h:
		return SubjectMember
	case StatGroupInvites1h, StatGroupSize:
		return SubjectGroup
	}
	return SubjectOperator
}

// StatsSource answers stats lookups on the decision path. It must not block
// or touch the network: implementations hold the values in memory.
type StatsSource interface {
	// Stat returns the value of stat for key (an operator, member or group
	// id, per stat.Subject()) in app, or 0 when unknown.
	Stat(stat Stat, app, key string) int64
}

// StatRead is one statistic a decision read, recorded in Decision.Stats and
// Event.Stats so analysts can see why a rule fired.
type StatRead struct {
	Stat  string `json:"stat"`
	Key   string `json:"key"`
	Value int64  `json:"value"`
}

// usedStats returns the stats e reads. checkStats has vetted the shapes.
func usedStats(e celast.Expr) []Stat {
	var out []Stat
	walkFree(e, nil, func(n celast.Expr, free func(string) bool) {
		if name, ok := varKey(n, VarStats, free); ok {
			if st, ok := StatByName(name); ok && !slices.Contains(out, st) {
				out = append(out, st)
			}
		}
	})
	return out
}

// checkStats reports stats reads that are not stats.NAME with a known
// NAME, and a member statistic in a reject rule.
func checkStats(e celast.Expr, kind string, once func(key, format string, args ...any)) {
	idents, keyed := 0, 0
	walkFree(e, nil, func(n celast.Expr, free func(string) bool) {
		if isFreeIdent(n, VarStats, free) {
			idents++
		}
		name, ok := varKey(n, VarStats, free)
		if !ok {
			return
		}
		keyed++
		st, known := StatByName(name)
		switch {
		case !known:
			once("stat "+name, "unknown statistic stats.%s (known: %s)", name, strings.Join(statNames[:], ", "))
		case st == StatMemberInvited1h && kind == KindReject:
			once("stat "+name, "stats.%s is only available in refuse_member rules (it is counted per member)", name)
		}
	})
	if idents > keyed {
		once("stats", "read statistics as stats.NAME with a literal NAME (known: %s)", strings.Join(statNames[:], ", "))
	}
}

// statsVal is the runtime value of the stats variable for one request.
// Each read is looked up in the source once per request (per member for
// member statistics) and recorded in the evaluation.
type statsVal struct{ ev *evaluation }

func (v statsVal) Get(key ref.Val) ref.Val {
	name, ok := key.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(key)
	}
	st, ok := StatByName(string(name))
	if !ok {
		return types.NewErr("no such statistic %q", string(name))
	}
	return types.Int(v.ev.stat(st))
}

func (v statsVal) ConvertToNative(t reflect.Type) (any, error) {
	return nil, fmt.Errorf("stats cannot be converted to %v", t)
}
func (v statsVal) ConvertToType(t ref.Type) ref.Val {
	return types.NewErr("type conversion error from stats to %q", t.TypeName())
}
func (v statsVal) Equal(other ref.Val) ref.Val { return types.False }
func (v statsVal) Type() ref.Type              { return statsRuntime{} }
func (v statsVal) Value() any                  { return v }

var _ traits.Indexer = statsVal{}

type statsRuntime struct{}

func (statsRuntime) HasTrait(t int) bool { return t == traits.IndexerType }
func (statsRuntime) TypeName() string    { return "stats" }

// stat returns (and records) the value of st for the request or member
// being evaluated.
func (ev *evaluation) stat(st Stat) int64 {
	key := ev.req.Operator
	switch st.Subject() {
	case SubjectMember:
		key = ev.act.member
	case SubjectGroup:
		key = ev.req.GroupID
	}
	name := statNames[st]
	for _, r := range ev.reads {
		if r.Stat == name && r.Key == key {
			return r.Value
		}
	}
	var n int64
	if ev.src != nil {
		n = ev.src.Stat(st, ev.req.App, key)
	}
	ev.reads = append(ev.reads, StatRead{Stat: name, Key: key, Value: n})
	return n
}
