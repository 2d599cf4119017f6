package decider

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"github.com/invitegate/invitegate/decider/cputime"
	"github.com/stretchr/testify/require"
)

// eventBatch is the number of ids per list.added event in the benchmarks,
// as `invitegate list add` batches them.
const eventBatch = 20000

// eventListFold returns a fold whose "banned" list got benchListSize ids
// through list.added events (the bench policy declares it empty), with a
// snapshot taken after every event when each is true.
func eventListFold(tb testing.TB, each bool) *Fold {
	tb.Helper()
	doc := benchPolicy(tb)
	doc.Lists["banned"] = nil
	f := NewFold(nil, 0)
	require.NoError(tb, f.Apply(replaced(doc), 1))
	ids := bigList()
	seq := uint64(1)
	for i := 0; i < len(ids); i += eventBatch {
		seq++
		require.NoError(tb, f.Apply(added("banned", ids[i:min(i+eventBatch, len(ids))]...), seq))
		if each {
			f.Snapshot()
		}
	}
	require.Equal(tb, benchListSize, f.Snapshot().ListSize("banned"))
	return f
}

// BenchmarkFoldMillionIDs folds 1,000,000 ids arriving in list.added events
// of 20,000: "each" makes a snapshot after every event (a replica following
// live), "batched" one at the end (a replay).
func BenchmarkFoldMillionIDs(b *testing.B) {
	bigList()
	for _, each := range []bool{true, false} {
		b.Run(map[bool]string{true: "each", false: "batched"}[each], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				eventListFold(b, each)
			}
		})
	}
}

// BenchmarkFoldListEvent applies one list.added event of a few ids to the
// 1,000,000-entry list and makes the new snapshot: the cost of a live
// list change on a replica.
func BenchmarkFoldListEvent(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("ids=%d", n), func(b *testing.B) {
			f := eventListFold(b, false)
			seq := f.Position()
			ids := make([]string, n)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				for j := range ids {
					ids[j] = fmt.Sprintf("new%09d", i)
					i++
				}
				seq++
				if err := f.Apply(added("banned", ids...), seq); err != nil {
					b.Fatal(err)
				}
				f.Snapshot()
			}
		})
	}
}

// BenchmarkDecideEventList is BenchmarkDecide/indexed with the
// 1,000,000-entry list built by list events (a sharded set).
func BenchmarkDecideEventList(b *testing.B) {
	s := eventListFold(b, true).Snapshot()
	r := benchRequest("Public")
	require.Equal(b, OutcomePartial, s.Decide(r).Outcome)
	b.ReportAllocs()
	for b.Loop() {
		s.Decide(r)
	}
}

// BenchmarkEventListHeap reports the live heap of a snapshot whose
// 1,000,000-entry list was built by list events, strings included
// (heap-MiB), as a replica holds it.
func BenchmarkEventListHeap(b *testing.B) {
	liveHeap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	var s *Snapshot
	var heap uint64
	for b.Loop() {
		s = nil
		before := liveHeap()
		doc := benchPolicy(b)
		doc.Lists["banned"] = nil
		f := NewFold(nil, 0)
		require.NoError(b, f.Apply(replaced(doc), 1))
		batch := make([]string, 0, eventBatch)
		seq := uint64(1)
		for i := range benchListSize {
			batch = append(batch, fmt.Sprintf("user%07d", i)) // fresh strings, as decoded from events
			if len(batch) == eventBatch {
				seq++
				require.NoError(b, f.Apply(added("banned", batch...), seq))
				batch = make([]string, 0, eventBatch)
			}
		}
		s = f.Snapshot()
		heap = liveHeap() - before
	}
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
	runtime.KeepAlive(s)
}

// BenchmarkReadState reads back the state of the bench policy with its
// 1,000,000-entry list (what a replica loads from disk or from the
// compacted snapshot at start).
func BenchmarkReadState(b *testing.B) {
	s := eventListFold(b, false).Snapshot()
	var buf bytes.Buffer
	require.NoError(b, WriteState(&buf, s, 0))
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		got, _, err := ReadState(bytes.NewReader(buf.Bytes()))
		require.NoError(b, err)
		require.Equal(b, benchListSize, got.ListSize("banned"))
	}
}

// BenchmarkVerifyEvent measures checking one event's signature: a small
// list event and one of 50,000 ids (about 900 KiB, what `list add` sends).
// cpu-ns/op is the CPU it used, which does not grow with the machine's
// load as ns/op does.
func BenchmarkVerifyEvent(b *testing.B) {
	key, err := GenerateSigningKey()
	if err != nil {
		b.Fatal(err)
	}
	trust, err := ParseTrust([]byte(AuthorizedKey(key.Public(), "bench")), "bench")
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 50000} {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("user%07d", i)
		}
		body, err := (&Change{Kind: ChangeListAdded, List: "banned", IDs: ids}).Marshal()
		if err != nil {
			b.Fatal(err)
		}
		subject := PolicySubject("1400000000", ChangeListAdded)
		id, sig := key.SignEvent("1400000000", subject, body)
		b.Run(fmt.Sprintf("ids=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			cpu := cputime.Self()
			for b.Loop() {
				if _, err := trust.VerifyEvent("1400000000", subject, 1, body, id, sig); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cputime.Self()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
