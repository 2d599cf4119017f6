package decider

import "slices"

// decideMembers applies the enforcing refuse_member rules unless the
// request is rejected. Each rule is first evaluated for the request
// (reqEval), which settles every part that does not depend on member; only
// the rest runs per member, and only for the rules that may still match.
func (s *Snapshot) decideMembers(ev *evaluation, d *Decision) {
	if d.RejectRule != "" {
		return
	}
	ev.active = ev.active[:0]
	for i := range s.rules {
		r := &s.rules[i]
		if r.info.Kind == KindRefuseMember && !r.shadow && ev.reqEval(r.root) != tFalse {
			ev.active = append(ev.active, i)
		}
	}
	if len(ev.active) == 0 {
		return
	}
	ev.dedup.reset()
	for j, m := range ev.req.Members {
		if j%checkEvery == checkEvery-1 && ev.expired() {
			break
		}
		if ev.dedup.contains(ev.refused, m) {
			continue // listed twice: refused once
		}
		for _, i := range ev.active {
			t := ev.memberEval(s.rules[i].root, j)
			if t == tErr {
				ev.failed(i)
			}
			if t == tTrue {
				d.Refused = append(d.Refused, Refusal{Member: m, Rule: s.rules[i].info.Name})
				ev.refused = append(ev.refused, m)
				ev.dedup.added(m)
				break
			}
		}
	}
	clear(ev.refused)
	ev.refused = ev.refused[:0]
}

// shadowRefusals records the members shadow rule i would refuse.
func (s *Snapshot) shadowRefusals(ev *evaluation, i int, d *Decision) {
	r := &s.rules[i]
	if ev.reqEval(r.root) == tFalse {
		return
	}
	var matched []string
	ev.dedup.reset()
	for j, m := range ev.req.Members {
		if j%checkEvery == checkEvery-1 && ev.expired() {
			return
		}
		switch ev.memberEval(r.root, j) {
		case tErr:
			ev.failed(i)
		case tTrue:
			if !ev.dedup.contains(matched, m) {
				matched = append(matched, m)
				ev.dedup.added(m)
			}
		}
	}
	if len(matched) > 0 {
		d.Shadow = append(d.Shadow, ShadowEffect{Rule: r.info.Name, Kind: KindRefuseMember, Members: matched})
	}
}

// dedupLinear is the list length up to which dedup scans instead of hashing.
const dedupLinear = 16

// dedup answers "is m already in the list being built?": by a scan while
// the list is short, by a map (built once, then kept up to date) after.
type dedup struct {
	m      map[string]struct{}
	mapped bool
}

func (u *dedup) reset() {
	if u.mapped {
		clear(u.m)
		u.mapped = false
	}
}

func (u *dedup) contains(list []string, m string) bool {
	if len(list) <= dedupLinear {
		return slices.Contains(list, m)
	}
	if !u.mapped {
		if u.m == nil {
			u.m = make(map[string]struct{}, 2*len(list))
		}
		for _, x := range list {
			u.m[x] = struct{}{}
		}
		u.mapped = true
	}
	_, ok := u.m[m]
	return ok
}

// added records m, appended to the list after contains said no.
func (u *dedup) added(m string) {
	if u.mapped {
		u.m[m] = struct{}{}
	}
}
