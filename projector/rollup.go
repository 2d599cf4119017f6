package projector

import (
	"cmp"
	"slices"
	"time"

	"github.com/invitegate/invitegate/decider"
)

// Rule modes in invite_rollup_rule_daily.
const (
	modeEnforce = "enforce"
	modeShadow  = "shadow"
)

const (
	secondsPerHour = 3600
	secondsPerDay  = 86400
)

type hourKey struct {
	hour                     int64 // unix seconds of the UTC hour
	app, groupType, platform string
}

type hourAgg struct {
	requests, partial, rejected, failMode, invited, refused, membersRejected, limited int64
}

type ruleKey struct {
	day             int64 // unix seconds of the UTC day
	app, rule, mode string
}

type ruleAgg struct{ refused, rejected int64 }

type operatorKey struct {
	day           int64
	app, operator string
}

type operatorAgg struct{ requests, invited, refused, rejected int64 }

// rollups are the increments a set of newly inserted invite events adds to
// the rollup tables.
type rollups struct {
	hourly    map[hourKey]*hourAgg
	rules     map[ruleKey]*ruleAgg
	operators map[operatorKey]*operatorAgg
}

func newRollups() *rollups {
	return &rollups{
		hourly:    map[hourKey]*hourAgg{},
		rules:     map[ruleKey]*ruleAgg{},
		operators: map[operatorKey]*operatorAgg{},
	}
}

// add counts one invite event. RebuildRollupsSQL computes the same from the
// stored rows; keep the two in step.
func (r *rollups) add(ev *decider.Event) {
	t := ev.ReceivedAt.Unix()
	hour, day := t-mod(t, secondsPerHour), t-mod(t, secondsPerDay)
	members, refused := int64(len(ev.Members)), int64(len(ev.Refused))
	reject := b2i(ev.Outcome == decider.OutcomeReject)

	h := getOrNew(r.hourly, hourKey{hour, ev.App, ev.GroupType, ev.Platform})
	h.requests++
	h.partial += b2i(ev.Outcome == decider.OutcomePartial)
	h.rejected += reject
	h.failMode += b2i(ev.FailMode)
	h.invited += members
	h.refused += refused
	h.membersRejected += reject * members
	h.limited += b2i(ev.Limit != "")

	o := getOrNew(r.operators, operatorKey{day, ev.App, ev.Operator})
	o.requests++
	o.invited += members
	o.refused += refused
	o.rejected += reject

	if reject == 1 {
		getOrNew(r.rules, ruleKey{day, ev.App, ev.RejectRule, modeEnforce}).rejected++
	}
	for _, ref := range ev.Refused {
		getOrNew(r.rules, ruleKey{day, ev.App, ref.Rule, modeEnforce}).refused++
	}
	for _, s := range ev.Shadow {
		switch s.Kind {
		case "reject":
			getOrNew(r.rules, ruleKey{day, ev.App, s.Rule, modeShadow}).rejected++
		case "refuse_member":
			getOrNew(r.rules, ruleKey{day, ev.App, s.Rule, modeShadow}).refused += int64(len(s.Members))
		}
	}
}

// hourlyColumns returns the unnest arrays of upsertHourlySQL, keys sorted.
func (r *rollups) hourlyColumns() []any {
	keys := sortedKeys(r.hourly, func(a, b hourKey) int {
		return cmp.Or(cmp.Compare(a.hour, b.hour), cmp.Compare(a.app, b.app),
			cmp.Compare(a.groupType, b.groupType), cmp.Compare(a.platform, b.platform))
	})
	n := len(keys)
	hours := make([]time.Time, n)
	apps, types, platforms := strs(n), strs(n), strs(n)
	cols := make([][]int64, 8)
	for i := range cols {
		cols[i] = make([]int64, n)
	}
	for i, k := range keys {
		a := r.hourly[k]
		hours[i], apps[i], types[i], platforms[i] = time.Unix(k.hour, 0).UTC(), k.app, k.groupType, k.platform
		for j, v := range [...]int64{a.requests, a.partial, a.rejected, a.failMode, a.invited, a.refused, a.membersRejected,
			a.limited} {
			cols[j][i] = v
		}
	}
	return []any{hours, apps, types, platforms, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7]}
}

// ruleColumns returns the unnest arrays of upsertRulesSQL, keys sorted.
func (r *rollups) ruleColumns() []any {
	keys := sortedKeys(r.rules, func(a, b ruleKey) int {
		return cmp.Or(cmp.Compare(a.day, b.day), cmp.Compare(a.app, b.app),
			cmp.Compare(a.rule, b.rule), cmp.Compare(a.mode, b.mode))
	})
	n := len(keys)
	days := make([]time.Time, n)
	apps, rules, modes := strs(n), strs(n), strs(n)
	refused, rejected := make([]int64, n), make([]int64, n)
	for i, k := range keys {
		a := r.rules[k]
		days[i], apps[i], rules[i], modes[i] = time.Unix(k.day, 0).UTC(), k.app, k.rule, k.mode
		refused[i], rejected[i] = a.refused, a.rejected
	}
	return []any{days, apps, rules, modes, refused, rejected}
}

// operatorColumns returns the unnest arrays of upsertOperatorsSQL, keys sorted.
func (r *rollups) operatorColumns() []any {
	keys := sortedKeys(r.operators, func(a, b operatorKey) int {
		return cmp.Or(cmp.Compare(a.day, b.day), cmp.Compare(a.app, b.app), cmp.Compare(a.operator, b.operator))
	})
	n := len(keys)
	days := make([]time.Time, n)
	apps, operators := strs(n), strs(n)
	requests, invited, refused, rejected := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	for i, k := range keys {
		a := r.operators[k]
		days[i], apps[i], operators[i] = time.Unix(k.day, 0).UTC(), k.app, k.operator
		requests[i], invited[i], refused[i], rejected[i] = a.requests, a.invited, a.refused, a.rejected
	}
	return []any{days, apps, operators, requests, invited, refused, rejected}
}

func getOrNew[K comparable, V any](m map[K]*V, k K) *V {
	v, ok := m[k]
	if !ok {
		v = new(V)
		m[k] = v
	}
	return v
}

func sortedKeys[K comparable, V any](m map[K]V, compare func(a, b K) int) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compare)
	return keys
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// mod is the floored modulus, so that times before 1970 bucket correctly.
func mod(a, b int64) int64 { return ((a % b) + b) % b }
