package decider

import (
	"hash/maphash"
	"maps"
	"math/bits"
	"slices"
	"sync/atomic"
)

// A named list that policy events change is kept as a persistent set: its
// entries are spread by hash over 2^k shards, each an immutable map once a
// snapshot holds it. Adding or removing a few ids copies only the shards
// they fall in (about shardTarget entries each) and the slice of shard
// pointers, so a 1,000,000-entry list changes in microseconds and the new
// snapshot shares every other shard with the old one.
//
// A Fold mutates in place what it created since its last Snapshot (owner ==
// its generation): replaying thousands of events, or one event with 50,000
// ids, copies each shard at most once.

const (
	shardTarget = 256             // entries per shard aimed for when (re)sharding
	shardMax    = 4 * shardTarget // above this average, the set is resharded
	shardMin    = shardTarget / 4 // below this average, the set is resharded
)

var (
	shardSeed = maphash.MakeSeed()
	// foldGens hands out generations: a shard or set whose owner is a
	// fold's current generation may be changed in place by that fold only.
	foldGens atomic.Uint64
)

func newGen() uint64 { return foldGens.Add(1) }

type shard struct {
	m     map[string]struct{}
	owner uint64
}

// shardedSet is a set of strings in len(shards) (a power of two) shards.
type shardedSet struct {
	shards []*shard
	n      int
	owner  uint64 // the generation that may replace shards[i] in place
}

func (s *shardedSet) shardOf(v string) int {
	return int(maphash.String(shardSeed, v) & uint64(len(s.shards)-1))
}

func (s *shardedSet) has(v string) bool {
	_, ok := s.shards[s.shardOf(v)].m[v]
	return ok
}

// shardCount is the number of shards for n entries: a power of two giving
// about shardTarget entries each.
func shardCount(n int) int {
	if n <= shardTarget {
		return 1
	}
	return 1 << bits.Len(uint((n-1)/shardTarget))
}

// newShardedSet builds a set of the entries each yields, owned by gen,
// sharded and sized for size entries.
func newShardedSet(size int, each func(yield func(string) bool), gen uint64) *shardedSet {
	s := &shardedSet{shards: make([]*shard, shardCount(size)), owner: gen}
	per := size/len(s.shards)*5/4 + 8 // hashing spreads unevenly: room to spare, no regrowth
	for i := range s.shards {
		s.shards[i] = &shard{m: make(map[string]struct{}, per), owner: gen}
	}
	each(func(v string) bool {
		m := s.shards[s.shardOf(v)].m
		if _, ok := m[v]; !ok {
			m[v] = struct{}{}
			s.n++
		}
		return true
	})
	return s
}

// mutable returns s if gen owns it, else a copy sharing s's shards.
func (s *shardedSet) mutable(gen uint64) *shardedSet {
	if s.owner == gen {
		return s
	}
	return &shardedSet{shards: slices.Clone(s.shards), n: s.n, owner: gen}
}

// own returns shard i as a map gen may change, copying it first unless gen
// owns it. s must be owned by gen.
func (s *shardedSet) own(i int, gen uint64) map[string]struct{} {
	sh := s.shards[i]
	if sh.owner != gen {
		m := maps.Clone(sh.m)
		if m == nil {
			m = map[string]struct{}{}
		}
		sh = &shard{m: m, owner: gen}
		s.shards[i] = sh
	}
	return sh.m
}

// add adds ids to s (owned by gen). A batch that would overfill the shards
// reshards first, into maps sized for the result.
func (s *shardedSet) add(ids []string, gen uint64) *shardedSet {
	if want := s.n + len(ids); want > len(s.shards)*shardMax {
		s = s.reshard(want, gen)
	}
	for _, v := range ids {
		i := s.shardOf(v)
		if s.shards[i].owner == gen {
			m := s.shards[i].m
			n := len(m)
			m[v] = struct{}{}
			s.n += len(m) - n
			continue
		}
		if _, ok := s.shards[i].m[v]; !ok { // a shared shard is copied only when it changes
			s.own(i, gen)[v] = struct{}{}
			s.n++
		}
	}
	return s
}

// remove removes ids from s (owned by gen) and reshards when it shrank
// below shardMin entries per shard.
func (s *shardedSet) remove(ids []string, gen uint64) *shardedSet {
	for _, v := range ids {
		i := s.shardOf(v)
		if _, ok := s.shards[i].m[v]; ok {
			delete(s.own(i, gen), v)
			s.n--
		}
	}
	if k := len(s.shards); k > 1 && s.n < k*shardMin {
		return s.reshard(s.n, gen)
	}
	return s
}

// reshard returns the entries of s in shardCount(size) new shards owned by
// gen, each sized for size/shards entries.
func (s *shardedSet) reshard(size int, gen uint64) *shardedSet {
	return newShardedSet(size, s.each, gen)
}

// each yields every entry (in no particular order).
func (s *shardedSet) each(yield func(string) bool) {
	for _, sh := range s.shards {
		for v := range sh.m {
			if !yield(v) {
				return
			}
		}
	}
}

// frozen returns the snapshot value of s: a slice for a few entries, the
// only shard's map for one shard, else the sharded set itself. The fold
// must take a new generation afterwards so that it never changes s again.
func (s *shardedSet) frozen() *stringSet {
	switch {
	case s.n <= smallSet:
		small := make([]string, 0, s.n)
		s.each(func(v string) bool { small = append(small, v); return true })
		slices.Sort(small)
		return &stringSet{small: small}
	case len(s.shards) == 1:
		return &stringSet{m: s.shards[0].m}
	}
	return &stringSet{sh: s}
}

// sharded returns the entries of a snapshot's set as a sharded set the fold
// of generation gen can change: shared shards when it already is one, else
// a copy (one pass over the entries).
func (s *stringSet) sharded(gen uint64) *shardedSet {
	switch {
	case s.sh != nil:
		return s.sh
	case s.m != nil && len(s.m) <= shardMax:
		return &shardedSet{shards: []*shard{{m: s.m}}, n: len(s.m)} // owned by nobody: copied on change
	}
	return newShardedSet(s.len(), s.each, gen)
}

// each yields every entry of s (in no particular order).
func (s *stringSet) each(yield func(string) bool) {
	switch {
	case s.m != nil:
		for v := range s.m {
			if !yield(v) {
				return
			}
		}
	case s.sh != nil:
		s.sh.each(yield)
	default:
		for _, v := range s.small {
			if !yield(v) {
				return
			}
		}
	}
}
