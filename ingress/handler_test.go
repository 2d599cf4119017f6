package ingress

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

func TestHandlerDecisions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want string
	}{
		{"seed sample is allowed", seedSample, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`},
		{"empty DestinationMembers is allowed", invite("@TGS#1", "Public", "alice"),
			`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`},
		{"refused members in request order without duplicates",
			invite("@TGS#1", "Public", "alice", "jared", "spammer2", "bot-7", "spammer2", "carol", "spammer1"),
			`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RefusedMembers_Account":["spammer2","bot-7","spammer1"]}`},
		{"reject with the rule's code and info", invite("@TGS#1", "Public", "badop", "jared", "spammer1"),
			`{"ActionStatus":"OK","ErrorCode":10101,"ErrorInfo":"You cannot invite users right now."}`},
		{"reject with the default code", invite("@TGS#1", "AVChatRoom", "alice", "jared"),
			`{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			requireAnswer(t, b.post(inviteQuery(), tt.body), http.StatusOK, tt.want)
		})
	}
}

func TestHandlerFailMode(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		mode decider.FailMode
		want string
	}{
		{decider.FailOpen, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`},
		{decider.FailClosed, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":""}`},
	} {
		t.Run(string(tt.mode), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.h.engine = decider.NewEngine(tt.mode, nil) // no snapshot loaded
			requireAnswer(t, b.post(inviteQuery(), seedSample), http.StatusOK, tt.want)
			require.Equal(t, 1.0, testutil.ToFloat64(b.h.metrics.failMode.WithLabelValues(string(tt.mode))))
			ev := b.sink.all()
			require.Len(t, ev, 1)
			require.True(t, ev[0].FailMode)
		})
	}
}

func TestHandlerProtocolErrors(t *testing.T) {
	t.Parallel()
	inv := decider.CommandBeforeInviteJoinGroup
	tests := []struct {
		name   string
		method string
		query  func() map[string]string // overrides of inviteQuery; "" deletes
		body   string
		status int
		info   string
		reason string
	}{
		{"GET", http.MethodGet, nil, seedSample, 405, "method GET not allowed: IM callbacks are POST", reasonMethod},
		{"PUT", http.MethodPut, nil, seedSample, 405, "method PUT not allowed: IM callbacks are POST", reasonMethod},
		{"missing SdkAppid", "", q("SdkAppid", ""), seedSample, 403, "missing SdkAppid query parameter", reasonAppMismatch},
		{"other SdkAppid", "", q("SdkAppid", "1400000002"), seedSample, 403, `SdkAppid "1400000002" is not this service's app`, reasonAppMismatch},
		{"missing CallbackCommand", "", q("CallbackCommand", ""), seedSample, 400, "missing CallbackCommand query parameter", reasonMissingCommand},
		{"body names another command", "", nil, strings.Replace(seedSample, inv, "Group.CallbackBeforeApplyJoinGroup", 1), 400,
			`CallbackCommand "Group.CallbackBeforeApplyJoinGroup" in the body differs from "Group.CallbackBeforeInviteJoinGroup" in the query`, reasonCommandMismatch},
		{"seed sample with its comment", "", nil, strings.Replace(seedSample, `"1670574414123"`, `"1670574414123"// Event trigger timestamp in milliseconds`, 1), 400,
			`malformed JSON: expected ',' or '}' after object member at byte 253, found '/'`, reasonMalformedJSON},
		{"empty body", "", nil, "", 400, "malformed JSON: empty body", reasonMalformedJSON},
		{"truncated body", "", nil, seedSample[:60], 400, `malformed JSON: unexpected end of body, expected string`, reasonMalformedJSON},
		{"trailing data", "", nil, seedSample + "{}", 400, `malformed JSON: expected end of body after the JSON object at byte 255, found '{'`, reasonMalformedJSON},
		{"array body", "", nil, `[1,2]`, 400, "body is not a JSON object", reasonNotObject},
		{"missing GroupId", "", nil, `{"Operator_Account":"a","DestinationMembers":[]}`, 400, "missing GroupId", reasonMissingGroupID},
		{"empty GroupId", "", nil, `{"GroupId":"","Operator_Account":"a","DestinationMembers":[]}`, 400, "missing GroupId", reasonMissingGroupID},
		{"null GroupId", "", nil, `{"GroupId":null,"Operator_Account":"a","DestinationMembers":[]}`, 400, "missing GroupId", reasonMissingGroupID},
		{"numeric GroupId", "", nil, `{"GroupId":12,"Operator_Account":"a","DestinationMembers":[]}`, 400, "GroupId must be a string", reasonFieldType},
		{"numeric Type", "", nil, `{"GroupId":"g","Type":3,"Operator_Account":"a","DestinationMembers":[]}`, 400, "Type must be a string", reasonFieldType},
		{"missing Operator_Account", "", nil, `{"GroupId":"g","DestinationMembers":[]}`, 400, "missing Operator_Account", reasonMissingOperator},
		{"missing DestinationMembers", "", nil, `{"GroupId":"g","Operator_Account":"a"}`, 400, "missing DestinationMembers", reasonBadMembers},
		{"DestinationMembers an object", "", nil, `{"GroupId":"g","Operator_Account":"a","DestinationMembers":{"Member_Account":"x"}}`, 400,
			"DestinationMembers must be an array of objects", reasonBadMembers},
		{"DestinationMembers of strings", "", nil, `{"GroupId":"g","Operator_Account":"a","DestinationMembers":[{"Member_Account":"x"},"y"]}`, 400,
			"DestinationMembers[1] must be an object", reasonBadMembers},
		{"member without Member_Account", "", nil, `{"GroupId":"g","Operator_Account":"a","DestinationMembers":[{"Account":"x"}]}`, 400,
			"DestinationMembers[0] has no string Member_Account", reasonBadMembers},
		{"numeric Member_Account", "", nil, `{"GroupId":"g","Operator_Account":"a","DestinationMembers":[{"Member_Account":"x"},{"Member_Account":7}]}`, 400,
			"DestinationMembers[1].Member_Account must be a string", reasonBadMembers},
		{"EventTime not numeric", "", nil, `{"GroupId":"g","Operator_Account":"a","DestinationMembers":[],"EventTime":"soon"}`, 400,
			`EventTime "soon" is not a non-negative integer of milliseconds`, reasonBadEventTime},
		{"EventTime fractional", "", nil, `{"GroupId":"g","Operator_Account":"a","DestinationMembers":[],"EventTime":1.5}`, 400,
			`EventTime "1.5" is not a non-negative integer of milliseconds`, reasonBadEventTime},
		{"EventTime negative", "", nil, `{"GroupId":"g","Operator_Account":"a","DestinationMembers":[],"EventTime":-1}`, 400,
			`EventTime "-1" is not a non-negative integer of milliseconds`, reasonBadEventTime},
		{"EventTime boolean", "", nil, `{"GroupId":"g","Operator_Account":"a","DestinationMembers":[],"EventTime":true}`, 400,
			"EventTime must be a number or a numeric string", reasonBadEventTime},
		{"EventTime overflows", "", nil, `{"GroupId":"g","Operator_Account":"a","DestinationMembers":[],"EventTime":"99999999999999999999"}`, 400,
			`EventTime "99999999999999999999" is not a non-negative integer of milliseconds`, reasonBadEventTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			query := inviteQuery()
			if tt.query != nil {
				for k, v := range tt.query() {
					if v == "" {
						query.Del(k)
					} else {
						query.Set(k, v)
					}
				}
			}
			w := b.do(or(tt.method, http.MethodPost), query, tt.body)
			requireFail(t, w, tt.status, tt.info)
			if tt.status == http.StatusMethodNotAllowed {
				require.Equal(t, "POST", w.Header().Get("Allow"))
			}
			require.Equal(t, 1.0, testutil.ToFloat64(b.h.metrics.errors.WithLabelValues(tt.reason)))
			require.Equal(t, 1.0, testutil.ToFloat64(b.h.metrics.callbacks.WithLabelValues(commandLabel(query.Get("CallbackCommand")), outcomeError)))
			require.Empty(t, b.sink.all(), "no event for a refused callback")
		})
	}
}

func q(k, v string) func() map[string]string {
	return func() map[string]string { return map[string]string{k: v} }
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestHandlerOtherCommandsAnsweredAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, command := range []string{"Group.CallbackBeforeApplyJoinGroup", "Group.CallbackAfterGroupDestroyed", "C2C.CallbackBeforeSendMsg"} {
		// The body is never read: even garbage is answered OK.
		w := b.post(commandQuery(command), "not json at all")
		requireAnswer(t, w, http.StatusOK, okAnswer)
	}
	require.Equal(t, 3.0, testutil.ToFloat64(b.h.metrics.callbacks.WithLabelValues(commandOther, outcomeOK)))
	require.Empty(t, b.sink.all())
}

func TestHandlerEventTimeForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, value string
		wantMs      int64 // 0: no event time
	}{
		{"numeric string", `"1670574414123"`, 1670574414123},
		{"number", `1670574414123`, 1670574414123},
		{"escaped digits", `"\u0031670574414123"`, 1670574414123},
		{"null", `null`, 0},
		{"zero", `0`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			body := `{"GroupId":"g","Operator_Account":"a","DestinationMembers":[],"EventTime":` + tt.value + `}`
			requireAnswer(t, b.post(inviteQuery(), body), http.StatusOK, okAnswer)
			ev := b.sink.all()
			require.Len(t, ev, 1)
			if tt.wantMs == 0 {
				require.Nil(t, ev[0].EventTime)
				return
			}
			require.NotNil(t, ev[0].EventTime)
			require.Equal(t, tt.wantMs, ev[0].EventTime.UnixMilli())
		})
	}
	t.Run("absent", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		requireAnswer(t, b.post(inviteQuery(), `{"GroupId":"g","Operator_Account":"a","DestinationMembers":[]}`), http.StatusOK, okAnswer)
		require.Nil(t, b.sink.all()[0].EventTime)
	})
}

func TestHandlerBodyLimit(t *testing.T) {
	t.Parallel()
	const limit = 512
	small := func(c *Config) { c.MaxBodyBytes = limit }
	pad := func(n int) string { // a valid invite of exactly n bytes
		base := `{"GroupId":"g","Operator_Account":"a","DestinationMembers":[],"X":""}`
		return strings.Replace(base, `"X":""`, `"X":"`+strings.Repeat("x", n-len(base))+`"`, 1)
	}
	t.Run("at the limit", func(t *testing.T) {
		t.Parallel()
		b := setup(t, small)
		requireAnswer(t, b.post(inviteQuery(), pad(limit)), http.StatusOK, okAnswer)
	})
	t.Run("declared length over the limit", func(t *testing.T) {
		t.Parallel()
		b := setup(t, small)
		requireFail(t, b.post(inviteQuery(), pad(limit+1)), 413, "body larger than 512 bytes")
		require.Equal(t, 1.0, testutil.ToFloat64(b.h.metrics.errors.WithLabelValues(reasonBodyTooLarge)))
	})
	t.Run("unknown length over the limit", func(t *testing.T) {
		t.Parallel()
		b := setup(t, small)
		r := httptest.NewRequest(http.MethodPost, "/callback?"+inviteQuery().Encode(), strings.NewReader(pad(limit+1)))
		r.ContentLength = -1 // as with chunked encoding
		w := httptest.NewRecorder()
		b.h.ServeHTTP(w, r)
		requireFail(t, w, 413, "body larger than 512 bytes")
	})
	t.Run("read error", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		r := httptest.NewRequest(http.MethodPost, "/callback?"+inviteQuery().Encode(), errReader{})
		w := httptest.NewRecorder()
		b.h.ServeHTTP(w, r)
		requireFail(t, w, 400, "read body: connection reset by peer")
		require.Equal(t, 1.0, testutil.ToFloat64(b.h.metrics.errors.WithLabelValues(reasonBodyRead)))
	})
}

// errReader fails like a client that went away mid-body.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errConnReset }

var errConnReset = errors.New("connection reset by peer")

func TestHandlerNoContentTypeRequired(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := httptest.NewRequest(http.MethodPost, "/callback?"+inviteQuery().Encode(), strings.NewReader(seedSample))
	r.Header.Del("Content-Type")
	w := httptest.NewRecorder()
	b.h.ServeHTTP(w, r)
	requireAnswer(t, w, http.StatusOK, okAnswer)
	require.Equal(t, "50", w.Header().Get("Content-Length"))
}
