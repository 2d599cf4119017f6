package ingress

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

const (
	testApp   = "1400000001"
	testToken = "xxxxyyyy"
)

// testPolicy exercises every decision shape: a coded reject, a plain reject,
// member refusals, shadow rules of both kinds and a rule that errors.
const testPolicy = `apiVersion: invitegate/v1
lists:
  banned: [spammer1, spammer2]
  blocked_operators: [badop]
rules:
  - name: blocked-operator
    reject: operator in lists.blocked_operators
    error_code: 10101
    error_info: "You cannot invite users right now."
  - name: no-avchatroom
    reject: group.type == "AVChatRoom"
  - name: numeric-group
    reject: int(group.id) == 42
  - name: banned-member
    refuse_member: member in lists.banned
  - name: no-bots
    refuse_member: member.startsWith("bot-")
  - name: no-self-invite
    refuse_member: member == operator
    mode: shadow
  - name: web-shadow
    reject: platform == "Web"
    mode: shadow
`

// seedSample is the seed's sample request without its // comment.
const seedSample = `{
"CallbackCommand": "Group.CallbackBeforeInviteJoinGroup",
"GroupId": "@TGS#2J4SZEAEL",
"Type": "Public",
"Operator_Account": "leckie",
"DestinationMembers": [
{
"Member_Account": "jared"
},
{
"Member_Account": "leckie"
}
],
"EventTime":"1670574414123"
}`

// sinkFake collects events: a fake of the EventSink boundary.
type sinkFake struct {
	mu     sync.Mutex
	events []decider.Event
	// hold, when set, is received from before Enqueue returns.
	hold    chan struct{}
	entered chan struct{}
}

func (s *sinkFake) Enqueue(ev decider.Event) {
	if s.entered != nil {
		s.entered <- struct{}{}
	}
	if s.hold != nil {
		<-s.hold
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
}

func (s *sinkFake) all() []decider.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]decider.Event(nil), s.events...)
}

type bundle struct {
	cfg    Config
	h      *Handler
	engine *decider.Engine
	reg    *prometheus.Registry
	sink   *sinkFake
	logs   *syncBuffer // the handler's JSON logs, debug level
	now    time.Time   // the handler's clock
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// setup returns a Handler with testPolicy loaded (revision 7), a fixed clock
// and a collecting sink; mod adjusts the config.
func setup(t *testing.T, mod ...func(*Config)) *bundle {
	t.Helper()
	b := &bundle{
		cfg:    Config{SdkAppID: testApp, HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0"},
		engine: decider.NewEngine(decider.FailOpen, nil),
		reg:    prometheus.NewRegistry(),
		sink:   &sinkFake{},
		logs:   &syncBuffer{},
		now:    time.Date(2022, 12, 9, 8, 26, 54, 0, time.UTC),
	}
	for _, m := range mod {
		m(&b.cfg)
	}
	loadPolicy(t, b.engine, testPolicy, 7)
	h, err := NewHandler(b.cfg, Deps{Engine: b.engine, Registry: b.reg, Sink: b.sink,
		Logger: slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    func() time.Time { return b.now }})
	require.NoError(t, err)
	b.h = h
	return b
}

func loadPolicy(t testing.TB, e *decider.Engine, policy string, revision uint64) {
	t.Helper()
	doc, err := decider.ParseDocument([]byte(policy))
	require.NoError(t, err)
	snap, err := decider.Compile(doc, revision)
	require.NoError(t, err)
	e.Load(snap)
}

// inviteQuery is IM's query string for an invite callback.
func inviteQuery() url.Values {
	return url.Values{
		"SdkAppid":        {testApp},
		"CallbackCommand": {decider.CommandBeforeInviteJoinGroup},
		"contenttype":     {"json"},
		"ClientIP":        {"203.0.113.9"},
		"OptPlatform":     {"iOS"},
	}
}

func commandQuery(command string) url.Values {
	q := inviteQuery()
	q.Set("CallbackCommand", command)
	return q
}

// do posts body to the handler with query q and returns the recorder.
func (b *bundle) do(method string, q url.Values, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/callback?"+q.Encode(), strings.NewReader(body))
	w := httptest.NewRecorder()
	b.h.ServeHTTP(w, r)
	return w
}

func (b *bundle) post(q url.Values, body string) *httptest.ResponseRecorder {
	return b.do(http.MethodPost, q, body)
}

// requireAnswer checks status, Content-Type and the exact JSON body.
func requireAnswer(t *testing.T, w *httptest.ResponseRecorder, status int, want string) {
	t.Helper()
	require.Equal(t, status, w.Code, w.Body.String())
	require.Equal(t, "application/json", w.Header().Get("Content-Type"))
	require.True(t, json.Valid(w.Body.Bytes()), w.Body.String())
	require.Equal(t, want, w.Body.String())
}

// requireFail checks an error answer with its status and ErrorInfo.
func requireFail(t *testing.T, w *httptest.ResponseRecorder, status int, info string) {
	t.Helper()
	want, err := json.Marshal(map[string]any{"ActionStatus": "FAIL", "ErrorCode": 1, "ErrorInfo": info})
	require.NoError(t, err)
	require.Equal(t, status, w.Code, w.Body.String())
	require.Equal(t, "application/json", w.Header().Get("Content-Type"))
	require.JSONEq(t, string(want), w.Body.String())
}

// invite builds an invite body.
func invite(groupID, groupType, operator string, members ...string) string {
	ms := make([]map[string]string, len(members))
	for i, m := range members {
		ms[i] = map[string]string{"Member_Account": m}
	}
	b, _ := json.Marshal(map[string]any{
		"CallbackCommand": decider.CommandBeforeInviteJoinGroup, "GroupId": groupID, "Type": groupType,
		"Operator_Account": operator, "DestinationMembers": ms, "EventTime": "1670574414123",
	})
	return string(b)
}
