package decider

import (
	"fmt"
	"maps"
	"reflect"
	"slices"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
)

// CEL variables of a rule. VarMember exists only in refuse_member rules.
const (
	VarOperator  = "operator"   // string: Operator_Account
	VarMembers   = "members"    // list(string): every DestinationMembers account, request order
	VarMember    = "member"     // string: the member being judged (refuse_member only)
	VarGroup     = "group"      // map(string, string) with keys "id" and "type"
	VarPlatform  = "platform"   // string: OptPlatform as sent, "" when absent (compare exactly)
	VarClientIP  = "client_ip"  // string: ClientIP, "" when absent
	VarApp       = "app"        // string: SdkAppid
	VarEventTime = "event_time" // timestamp: EventTime; 0001-01-01T00:00:00Z when absent
	VarLists     = "lists"      // map(string, stringset): lists.NAME supports `x in` and size()
	// VarStats (stats.go) is map(string, int): stats.NAME, a known statistic.
)

// groupFields are the keys of the group variable.
var groupFields = []string{"id", "type"}

// stringSetType is the CEL type of one named list: an opaque set of strings
// with O(1) `x in set` and size(set). CEL is never handed a list to scan.
var stringSetType = types.NewOpaqueType("stringset")

// newCELEnv declares the rule variables and the stringset operations. The
// stringset overloads need no binding: the standard library's `in` and size
// are bound once for every overload and dispatch on the Container and Sizer
// traits, which stringSet implements.
func newCELEnv() (*cel.Env, error) {
	env, err := cel.NewEnv(
		cel.Variable(VarOperator, cel.StringType),
		cel.Variable(VarMembers, cel.ListType(cel.StringType)),
		cel.Variable(VarMember, cel.StringType),
		cel.Variable(VarGroup, cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable(VarPlatform, cel.StringType),
		cel.Variable(VarClientIP, cel.StringType),
		cel.Variable(VarApp, cel.StringType),
		cel.Variable(VarEventTime, cel.TimestampType),
		cel.Variable(VarLists, cel.MapType(cel.StringType, stringSetType)),
		cel.Variable(VarStats, cel.MapType(cel.StringType, cel.IntType)),
		cel.Function("@in", cel.Overload("in_string_stringset", []*cel.Type{cel.StringType, stringSetType}, cel.BoolType)),
		cel.Function("size",
			cel.Overload("size_stringset", []*cel.Type{stringSetType}, cel.IntType),
			cel.MemberOverload("stringset_size", []*cel.Type{stringSetType}, cel.IntType)),
		ext.Strings(),
	)
	if err != nil {
		return nil, fmt.Errorf("cel environment: %w", err)
	}
	return env, nil
}

// smallSet is the size up to which a stringSet is scanned, not hashed:
// comparing a few short strings is cheaper than hashing one.
const smallSet = 8

// stringSet is the runtime value of a named list: a set of strings.
type stringSet struct {
	m     map[string]struct{}
	small []string    // the entries when there are at most smallSet; m is then nil
	sh    *shardedSet // a large list changed by policy events (policyset.go); m and small are then nil
}

func newStringSet(entries []string) *stringSet {
	m := make(map[string]struct{}, len(entries))
	for _, e := range entries {
		m[e] = struct{}{}
	}
	if len(m) <= smallSet {
		return &stringSet{small: slices.Sorted(maps.Keys(m))}
	}
	return &stringSet{m: m}
}

func (s *stringSet) has(v string) bool {
	if s.m != nil {
		_, ok := s.m[v]
		return ok
	}
	if s.sh != nil {
		return s.sh.has(v)
	}
	return slices.Contains(s.small, v)
}

func (s *stringSet) len() int {
	switch {
	case s.m != nil:
		return len(s.m)
	case s.sh != nil:
		return s.sh.n
	}
	return len(s.small)
}

func (s *stringSet) ConvertToNative(t reflect.Type) (any, error) {
	return nil, fmt.Errorf("a list cannot be converted to %v", t)
}

func (s *stringSet) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return stringSetType
	}
	return types.NewErr("type conversion error from stringset to %q", t.TypeName())
}

func (s *stringSet) Equal(other ref.Val) ref.Val { return types.Bool(other == ref.Val(s)) }
func (s *stringSet) Type() ref.Type              { return stringSetRuntime{} }
func (s *stringSet) Value() any                  { return s }
func (s *stringSet) Size() ref.Val               { return types.Int(s.len()) }

// Contains implements traits.Container for `x in lists.NAME`.
func (s *stringSet) Contains(v ref.Val) ref.Val {
	str, ok := v.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(v)
	}
	return types.Bool(s.has(string(str)))
}

// stringSetRuntime is the runtime type of a stringSet; it carries the traits
// the standard `in` and size bindings dispatch on.
type stringSetRuntime struct{}

func (stringSetRuntime) HasTrait(t int) bool {
	return t == traits.ContainerType || t == traits.SizerType
}
func (stringSetRuntime) TypeName() string { return "stringset" }

// activation resolves the rule variables of one request lazily, boxing each
// value at most once per request (member: once per member).
type activation struct {
	req       *Request
	lists     ref.Val
	stats     ref.Val
	vals      [8]ref.Val // cached operator, members, group, platform, client_ip, app, event_time, member
	member    string
	hasMember bool
}

var _ interpreter.Activation = (*activation)(nil)

func (a *activation) reset(req *Request, lists, stats ref.Val) {
	*a = activation{req: req, lists: lists, stats: stats}
}

func (a *activation) setMember(m string) {
	if a.hasMember && a.member == m {
		return
	}
	a.member, a.hasMember, a.vals[7] = m, true, nil
}

func (a *activation) Parent() interpreter.Activation { return nil }

func (a *activation) ResolveName(name string) (any, bool) {
	var i int
	switch name {
	case VarLists:
		return a.lists, true
	case VarStats:
		return a.stats, true
	case VarOperator:
		i = 0
	case VarMembers:
		i = 1
	case VarGroup:
		i = 2
	case VarPlatform:
		i = 3
	case VarClientIP:
		i = 4
	case VarApp:
		i = 5
	case VarEventTime:
		i = 6
	case VarMember:
		if !a.hasMember {
			return nil, false
		}
		i = 7
	default:
		return nil, false
	}
	if a.vals[i] == nil {
		a.vals[i] = a.box(i)
	}
	return a.vals[i], true
}

func (a *activation) box(i int) ref.Val {
	r := a.req
	switch i {
	case 0:
		return types.String(r.Operator)
	case 1:
		return types.NewStringList(types.DefaultTypeAdapter, r.Members)
	case 2:
		return types.NewStringStringMap(types.DefaultTypeAdapter, map[string]string{"id": r.GroupID, "type": r.GroupType})
	case 3:
		return types.String(r.Platform)
	case 4:
		return types.String(r.ClientIP)
	case 5:
		return types.String(r.App)
	case 6:
		return types.Timestamp{Time: r.EventTime.UTC()}
	default:
		return types.String(a.member)
	}
}
