package ingress

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

// benchPolicy is the benchmark policy: 10 rules, two of them
// against a 1,000,000-entry list, one per shape the decider indexes plus
// CEL-only ones.
func benchPolicy(tb testing.TB) *decider.Snapshot {
	tb.Helper()
	banned := make([]string, 1_000_000)
	for i := range banned {
		banned[i] = "banned-" + strconv.Itoa(i)
	}
	doc := &decider.Document{
		APIVersion: decider.APIVersion,
		Lists:      map[string][]string{"banned": banned, "staff": {"admin", "ops"}},
		Rules: []decider.RuleSpec{
			{Name: "banned-operator", Reject: "operator in lists.banned", ErrorCode: 10101, ErrorInfo: "You cannot invite users right now."},
			{Name: "no-avchatroom", Reject: `group.type == "AVChatRoom"`},
			{Name: "unknown-community", Reject: `platform == "Unknown" && group.type == "Community"`},
			{Name: "too-many", Reject: "size(members) > 500"},
			{Name: "foreign-app", Reject: `app != "` + testApp + `"`, Mode: decider.ModeShadow},
			{Name: "banned-member", RefuseMember: "member in lists.banned"},
			{Name: "no-staff", RefuseMember: "member in lists.staff"},
			{Name: "no-bots", RefuseMember: `member.startsWith("bot-")`},
			{Name: "web-banned", RefuseMember: `platform == "Web" && member in lists.banned`},
			{Name: "no-self-invite", RefuseMember: "member == operator", Mode: decider.ModeShadow},
		},
	}
	snap, err := decider.Compile(doc, 1)
	require.NoError(tb, err)
	return snap
}

// benchBody is an invite of 50 members; refused of them are banned.
func benchBody(refused int) []byte {
	members := make([]string, 50)
	for i := range members {
		members[i] = "user-" + strconv.Itoa(i)
		if i < refused {
			members[i] = "banned-" + strconv.Itoa(i*1000)
		}
	}
	return []byte(invite("@TGS#2J4SZEAEL", "Public", "leckie", members...))
}

type discardSink struct{ n atomic.Int64 }

func (s *discardSink) Enqueue(decider.Event) { s.n.Add(1) }

var benchSnap struct {
	once bool
	snap *decider.Snapshot
}

func benchHandler(b *testing.B, sink EventSink) *Handler {
	if !benchSnap.once {
		benchSnap.snap, benchSnap.once = benchPolicy(b), true
	}
	engine := decider.NewEngine(decider.FailOpen, nil)
	engine.Load(benchSnap.snap)
	h, err := NewHandler(Config{SdkAppID: testApp, CallbackToken: testToken},
		Deps{Engine: engine, Registry: prometheus.NewRegistry(), Sink: sink})
	require.NoError(b, err)
	return h
}

// BenchmarkHandler is the full handler for a 50-member invite: query,
// authentication, body, decision, answer, metrics and (when on) the event.
func BenchmarkHandler(b *testing.B) {
	for _, bc := range []struct {
		name    string
		refused int
		events  bool
	}{
		{"allow/events-off", 0, false},
		{"allow/events-on", 0, true},
		{"partial-5/events-on", 5, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var sink EventSink
			if bc.events {
				sink = &discardSink{}
			}
			h := benchHandler(b, sink)
			body := benchBody(bc.refused)
			q := inviteQuery()
			q.Set("RequestTime", strconv.FormatInt(h.now().Unix(), 10))
			q.Set("Sign", Sign(testToken, q.Get("RequestTime")))
			r := httptest.NewRequest(http.MethodPost, "/callback?"+q.Encode(), nil)
			r.ContentLength = int64(len(body))
			rd := bytes.NewReader(body)
			r.Body = io.NopCloser(rd)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				rd.Reset(body)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkDecide is the decision alone, on the handler's request.
func BenchmarkDecide(b *testing.B) {
	h := benchHandler(b, nil)
	body, err := parseBody(string(benchBody(5)), inviteSpec)
	require.NoError(b, err)
	q := parseQuery(inviteQuery().Encode())
	req, be := inviteRequest(&body, &q)
	require.Nil(b, be)
	b.ReportAllocs()
	for b.Loop() {
		d := h.engine.Decide(&req)
		if d.Outcome != decider.OutcomePartial {
			b.Fatal(d.Outcome)
		}
	}
}

// BenchmarkParseBody is the body parser alone on a 50-member invite.
func BenchmarkParseBody(b *testing.B) {
	body := string(benchBody(0))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := parseBody(body, inviteSpec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseBodyEncodingJSON is encoding/json on the same body, for
// comparison with BenchmarkParseBody.
func BenchmarkParseBodyEncodingJSON(b *testing.B) {
	body := benchBody(0)
	type member struct{ Member_Account string } //nolint:revive // IM's field name
	var v struct {
		CallbackCommand, GroupId, Type, Operator_Account string //nolint:revive // IM's field names
		DestinationMembers                               []member
		EventTime                                        json.RawMessage
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := json.Unmarshal(body, &v); err != nil {
			b.Fatal(err)
		}
	}
}
