package loadgen

import (
	"hash/fnv"
	"math/rand/v2"
	"strconv"
)

// groupTypes are cycled over group ranks: the group of rank r has type r%4.
var groupTypes = [...]string{"Public", "Private", "ChatRoom", "Community"}

// draw is everything random about one request, drawn in sequence order by a
// single generator so that a Seed reproduces the same traffic.
type draw struct {
	seq        int64
	key        string // RunID.seq: also the suffix of GroupID
	command    string
	groupID    string
	groupType  string
	operator   string
	members    []string
	changeType string // JoinType or ExitType; membership callbacks only
	platform   string
	clientIP   string
}

type generator struct {
	cfg    Config
	rng    *rand.Rand
	ops    *zipf
	groups *zipf
	seq    int64
}

func newGenerator(cfg Config) *generator {
	return &generator{
		cfg:    cfg,
		rng:    rand.New(rand.NewPCG(cfg.Seed, 0x1f6a7e9a7e5eed)),
		ops:    newZipf(cfg.Operators, cfg.OperatorsZipf),
		groups: newZipf(cfg.Groups, cfg.GroupsZipf),
	}
}

func (g *generator) next() *draw {
	d := &draw{seq: g.seq}
	g.seq++
	d.key = g.cfg.RunID + "." + strconv.FormatInt(d.seq, 10)
	d.command = g.command()
	rank := g.groups.next(g.rng) - 1
	d.groupType = groupTypes[rank%len(groupTypes)]
	prefix := "@TGS#"
	if d.groupType == "Community" {
		prefix = "@TGS#_" // Community ids start with @TGS#_
	}
	d.groupID = prefix + "g" + strconv.Itoa(rank) + "." + d.key
	d.operator = g.id("user-", g.ops.next(g.rng)-1)
	d.members = g.members()
	d.platform = g.cfg.Platforms[g.rng.IntN(len(g.cfg.Platforms))]
	d.clientIP = clientIP(d.operator)
	switch d.command {
	case CommandAfterNewMemberJoin:
		d.changeType = pick(g.rng, "Invited", "Apply")
	case CommandAfterMemberExit:
		d.changeType = pick(g.rng, "Kicked", "Quit")
	}
	return d
}

func (g *generator) command() string {
	if g.cfg.MembershipShare > 0 && g.rng.Float64() < g.cfg.MembershipShare {
		return pick(g.rng, CommandAfterNewMemberJoin, CommandAfterMemberExit)
	}
	return CommandBeforeInviteJoinGroup
}

// id returns prefix+n, or a banned id with probability BannedShare.
func (g *generator) id(prefix string, n int) string {
	if g.cfg.BannedShare > 0 && g.rng.Float64() < g.cfg.BannedShare {
		return "banned-" + strconv.Itoa(g.rng.IntN(g.cfg.BannedIDs))
	}
	return prefix + strconv.Itoa(n)
}

// members draws 1..MaxMembers distinct members.
func (g *generator) members() []string {
	n := 1 + g.rng.IntN(g.cfg.MaxMembers)
	out := make([]string, 0, n)
	for attempt := 0; len(out) < n && attempt < 100*n; attempt++ {
		m := g.id("user-", g.rng.IntN(g.cfg.Users))
		if !contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func pick(r *rand.Rand, a, b string) string {
	if r.IntN(2) == 0 {
		return a
	}
	return b
}

// clientIP gives each operator a stable address in TEST-NET-3 (203.0.113.0/24):
// only a query-string value, never a destination.
func clientIP(operator string) string {
	h := fnv.New32a()
	h.Write([]byte(operator))
	return "203.0.113." + strconv.Itoa(int(h.Sum32()%254)+1)
}
