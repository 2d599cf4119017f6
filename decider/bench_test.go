package decider

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/invitegate/invitegate/decider/cputime"
)

// benchListSize is the size of the big list in the benchmarks.
const benchListSize = 1_000_000

var bigList = sync.OnceValue(func() []string {
	l := make([]string, benchListSize)
	for i := range l {
		l[i] = fmt.Sprintf("user%07d", i)
	}
	return l
})

// benchPolicy has ten rules of the shapes a real policy uses; the
// "banned" list holds benchListSize entries.
func benchPolicy(tb testing.TB) *Document {
	tb.Helper()
	doc, err := ParseDocument([]byte(`
apiVersion: invitegate/v1
lists:
  staff: [admin, ops]
  bots: [bot-1, bot-2, bot-3]
  vip: [user0000007, user0000042]
  watch: [user0000003]
rules:
  - name: banned-operator
    reject: operator in lists.banned
    error_code: 10101
    error_info: "You cannot invite users right now."
  - name: rest-into-avchat
    reject: platform == "RESTAPI" && group.type == "AVChatRoom"
  - name: community-non-staff
    reject: group.type == "Community" && !(operator in lists.staff)
    mode: shadow
  - name: banned-member
    refuse_member: member in lists.banned && !(member in lists.staff)
  - name: no-self-invite
    refuse_member: member == operator
    mode: shadow
  - name: bots-outside-public
    refuse_member: (member in lists.bots || member.startsWith("bot_")) && group.type != "Public"
  - name: staff-only-web
    refuse_member: member in lists.staff && platform in ["Web", "Android"]
  - name: vip-app
    refuse_member: app == "1400000001" && member in lists.vip
  - name: watchlist
    refuse_member: member in lists.banned || member in lists.watch
    mode: shadow
  - name: guests-in-private
    refuse_member: group.type == "Private" && member.matches("^guest_[0-9]+$")
    mode: shadow
`))
	require.NoError(tb, err)
	doc.Lists["banned"] = bigList()
	return doc
}

// benchRequest invites 50 members, two of them in the big list (the
// member ids outside it look like real ones).
func benchRequest(groupType string) *Request {
	members := make([]string, 50)
	for i := range members {
		members[i] = fmt.Sprintf("guest_%04d", i)
	}
	members[10], members[30] = "user0000123", "user0999999"
	members[20] = "op_1"
	return &Request{
		App: "1400000001", GroupID: "@TGS#2J4SZEAEL", GroupType: groupType, Operator: "op_1",
		Members: members, Platform: "Android", ClientIP: "203.0.113.7", EventTime: time.UnixMilli(1700000000000),
	}
}

func benchDecide(b *testing.B, opts compileOptions, groupType string) {
	s, err := compile(benchPolicy(b), 1, opts)
	require.NoError(b, err)
	r := benchRequest(groupType)
	d := s.Decide(r)
	require.Equal(b, OutcomePartial, d.Outcome)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cputime.Self()
	for b.Loop() {
		s.Decide(r)
	}
	b.ReportMetric(float64(cputime.Self()-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkDecide: 50 members, 10 rules, a 1,000,000-entry list.
func BenchmarkDecide(b *testing.B) {
	b.Run("indexed", func(b *testing.B) { benchDecide(b, compileOptions{}, "Public") })
	// The group is Private, so guests-in-private runs its CEL leaf
	// (member.matches, a regular expression) for every member.
	b.Run("indexed-cel-leaf-per-member", func(b *testing.B) { benchDecide(b, compileOptions{}, "Private") })
	b.Run("cel-only", func(b *testing.B) { benchDecide(b, compileOptions{noIndex: true}, "Public") })
}

// BenchmarkCompile compiles the ten-rule policy with its 1,000,000-entry list.
func BenchmarkCompile(b *testing.B) {
	doc := benchPolicy(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_, err := Compile(doc, 1)
		require.NoError(b, err)
	}
}

// BenchmarkParseDocument parses the bench policy, written as YAML, with
// its 1,000,000-entry list.
func BenchmarkParseDocument(b *testing.B) {
	data, err := yaml.Marshal(benchPolicy(b))
	require.NoError(b, err)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_, err := ParseDocument(data)
		require.NoError(b, err)
	}
}

// BenchmarkSnapshotHeap reports the live heap of the 1,000,000-entry list
// as a Document holds it (list-MiB) and what a compiled snapshot adds on top
// (snapshot-MiB: the sets, which share the document's strings, and the
// rule programs).
func BenchmarkSnapshotHeap(b *testing.B) {
	liveHeap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	start := liveHeap()
	list := make([]string, benchListSize)
	for i := range list {
		list[i] = fmt.Sprintf("user%07d", i)
	}
	listBytes := liveHeap() - start
	doc := benchPolicy(b)
	doc.Lists["banned"] = list
	var s *Snapshot
	var snapBytes uint64
	for b.Loop() {
		s = nil
		before := liveHeap()
		var err error
		s, err = Compile(doc, 1)
		require.NoError(b, err)
		snapBytes = liveHeap() - before
	}
	b.ReportMetric(float64(listBytes)/(1<<20), "list-MiB")
	b.ReportMetric(float64(snapBytes)/(1<<20), "snapshot-MiB")
	runtime.KeepAlive(s)
}
