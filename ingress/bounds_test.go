package ingress

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

func users(n int) []string {
	members := make([]string, n)
	for i := range members {
		members[i] = "user-" + strconv.Itoa(i)
	}
	return members
}

// TestMemberCap: an invite over --max-members is answered by the fail mode
// without the policy, counted, and recorded with its first members and the
// limit; at the cap it is decided as usual.
func TestMemberCap(t *testing.T) {
	t.Parallel()
	for _, mode := range []decider.FailMode{decider.FailOpen, decider.FailClosed} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(c *Config) { c.MaxMembers = 3 })
			b.engine = decider.NewEngine(mode, nil)
			loadPolicy(t, b.engine, testPolicy, 7)
			h, err := NewHandler(b.cfg, Deps{Engine: b.engine, Registry: prometheus.NewRegistry(), Sink: b.sink})
			require.NoError(t, err)
			b.h = h

			// At the cap: the policy refuses the banned member.
			w := b.post(inviteQuery(), invite("g", "Public", "op", "a", "spammer1", "c"))
			requireAnswer(t, w, http.StatusOK, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RefusedMembers_Account":["spammer1"]}`)

			w = b.post(inviteQuery(), invite("g", "Public", "op", "a", "spammer1", "c", "d"))
			if mode == decider.FailOpen {
				requireAnswer(t, w, http.StatusOK, okAnswer)
			} else {
				requireAnswer(t, w, http.StatusOK, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":""}`)
			}
			require.Equal(t, 1.0, testutil.ToFloat64(b.h.metrics.limits.WithLabelValues(decider.LimitMaxMembers)))
			require.Equal(t, 1.0, testutil.ToFloat64(b.h.metrics.failMode.WithLabelValues(string(mode))))
			events := b.sink.all()
			require.Len(t, events, 2)
			ev := events[1]
			require.Equal(t, decider.LimitMaxMembers, ev.Limit)
			require.True(t, ev.FailMode)
			require.Equal(t, []string{"a", "spammer1", "c"}, ev.Members)
		})
	}
}

// TestMemberCapMembership: a membership callback over the cap is recorded
// with its first members and the limit, and counted.
func TestMemberCapMembership(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.MaxMembers = 2 })
	body := `{"GroupId":"g","NewMemberList":[{"Member_Account":"a"},{"Member_Account":"b"},{"Member_Account":"c"}]}`
	requireAnswer(t, b.post(commandQuery(decider.CommandAfterNewMemberJoin), body), http.StatusOK, okAnswer)
	events := b.sink.all()
	require.Len(t, events, 1)
	require.Equal(t, []string{"a", "b"}, events[0].Members)
	require.Equal(t, decider.LimitMaxMembers, events[0].Limit)
	require.Equal(t, 1.0, testutil.ToFloat64(b.h.metrics.limits.WithLabelValues(decider.LimitMaxMembers)))
}

// TestFieldLengths: every string over its bound is a precise 400 (for
// invites) or counted and not recorded (membership callbacks).
func TestFieldLengths(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("x", n+1) }
	tests := []struct {
		name  string
		body  string
		query func(q map[string][]string)
		info  string
	}{
		{"GroupId", invite(long(decider.MaxGroupIDBytes), "Public", "op", "a"), nil,
			fmt.Sprintf("GroupId is %d bytes, more than %d", decider.MaxGroupIDBytes+1, decider.MaxGroupIDBytes)},
		{"Type", invite("g", long(decider.MaxGroupTypeBytes), "op", "a"), nil,
			fmt.Sprintf("Type is %d bytes, more than %d", decider.MaxGroupTypeBytes+1, decider.MaxGroupTypeBytes)},
		{"Operator_Account", invite("g", "Public", long(decider.MaxAccountBytes), "a"), nil,
			fmt.Sprintf("Operator_Account is %d bytes, more than %d", decider.MaxAccountBytes+1, decider.MaxAccountBytes)},
		{"Member_Account", invite("g", "Public", "op", "a", long(decider.MaxAccountBytes)), nil,
			fmt.Sprintf("DestinationMembers[1].Member_Account is %d bytes, more than %d", decider.MaxAccountBytes+1, decider.MaxAccountBytes)},
		{"OptPlatform", invite("g", "Public", "op", "a"), func(q map[string][]string) { q["OptPlatform"] = []string{long(decider.MaxPlatformBytes)} },
			fmt.Sprintf("OptPlatform is %d bytes, more than %d", decider.MaxPlatformBytes+1, decider.MaxPlatformBytes)},
		{"ClientIP", invite("g", "Public", "op", "a"), func(q map[string][]string) { q["ClientIP"] = []string{long(decider.MaxClientIPBytes)} },
			fmt.Sprintf("ClientIP is %d bytes, more than %d", decider.MaxClientIPBytes+1, decider.MaxClientIPBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			q := inviteQuery()
			if tt.query != nil {
				tt.query(q)
			}
			requireFail(t, b.post(q, tt.body), http.StatusBadRequest, tt.info)
			require.Equal(t, 1.0, testutil.ToFloat64(b.h.metrics.errors.WithLabelValues(reasonFieldTooLong)))
			require.Empty(t, b.sink.all())
		})
	}
	// At the bounds exactly: accepted.
	b := setup(t)
	at := func(n int) string { return strings.Repeat("x", n) }
	requireAnswer(t, b.post(inviteQuery(), invite(at(decider.MaxGroupIDBytes), at(decider.MaxGroupTypeBytes),
		at(decider.MaxAccountBytes), at(decider.MaxAccountBytes))), http.StatusOK, okAnswer)

	// A membership callback: answered OK, counted, not recorded.
	body := `{"GroupId":"g","JoinType":"` + long(decider.MaxChangeTypeBytes) + `"}`
	requireAnswer(t, b.post(commandQuery(decider.CommandAfterNewMemberJoin), body), http.StatusOK, okAnswer)
	require.Equal(t, 1.0, testutil.ToFloat64(b.h.metrics.errors.WithLabelValues(membershipReasonPrefix+reasonFieldTooLong)))
	require.Len(t, b.sink.all(), 1) // the invite at the bounds only
}

// TestFieldNUL: a NUL in a string is a 400 naming the field (the event
// could not be stored).
func TestFieldNUL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	requireFail(t, b.post(inviteQuery(), invite("g", "Public", "op\x00x", "a")), http.StatusBadRequest,
		"Operator_Account contains a NUL character")
	requireFail(t, b.post(inviteQuery(), invite("g", "Public", "op", "a", "b\x00")), http.StatusBadRequest,
		"DestinationMembers[1].Member_Account contains a NUL character")
	require.Equal(t, 2.0, testutil.ToFloat64(b.h.metrics.errors.WithLabelValues(reasonFieldNUL)))
	require.Empty(t, b.sink.all())
}

// TestEventTimeOutOfRange: an EventTime no event can record (year 10000 and
// later) is treated as absent: the invite is decided and recorded.
func TestEventTimeOutOfRange(t *testing.T) {
	t.Parallel()
	b := setup(t)
	year10000 := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	body := strings.Replace(invite("g", "Public", "op", "spammer1"), `"1670574414123"`, strconv.FormatInt(year10000, 10), 1)
	w := b.post(inviteQuery(), body)
	requireAnswer(t, w, http.StatusOK, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RefusedMembers_Account":["spammer1"]}`)
	events := b.sink.all()
	require.Len(t, events, 1)
	require.Nil(t, events[0].EventTime)
	line, err := decider.AppendEvent(nil, &events[0])
	require.NoError(t, err)
	_, err = decider.DecodeEvent(line)
	require.NoError(t, err)
}

// TestDecisionTimeoutAnswersByFailMode: a decision past --decision-timeout
// is answered by the fail mode, counted and marked on the event.
func TestDecisionTimeoutAnswersByFailMode(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.engine = decider.NewEngine(decider.FailClosed, nil)
	b.engine.SetDecisionTimeout(time.Nanosecond)
	loadPolicy(t, b.engine, testPolicy, 7)
	h, err := NewHandler(b.cfg, Deps{Engine: b.engine, Registry: prometheus.NewRegistry(), Sink: b.sink})
	require.NoError(t, err)
	b.h = h
	w := b.post(inviteQuery(), invite("g", "Public", "op", users(200)...))
	requireAnswer(t, w, http.StatusOK, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":""}`)
	require.Equal(t, 1.0, testutil.ToFloat64(b.h.metrics.limits.WithLabelValues(decider.LimitDecisionTimeout)))
	events := b.sink.all()
	require.Len(t, events, 1)
	require.Equal(t, decider.LimitDecisionTimeout, events[0].Limit)
	require.Equal(t, uint64(7), events[0].PolicyRevision)
}

// TestMaxConnections: past --max-connections a new connection waits (and
// the wait is counted) until one closes; it is then served.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.MaxConnections = 2 })
	srv, err := NewServer(b.cfg, b.h)
	require.NoError(t, err)
	require.NoError(t, srv.Start(t.Context()))
	t.Cleanup(func() { _ = srv.Stop(t.Context()) })
	addr := srv.Addr().String()

	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		idle = append(idle, c)
	}
	// Both slots are taken once the server has accepted them.
	require.Eventually(t, func() bool { return testutil.ToFloat64(b.h.metrics.connsOpen) == 2 }, 10*time.Second, time.Millisecond)

	done := make(chan *http.Response, 1)
	go func() {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/callback?"+inviteQuery().Encode(), strings.NewReader(seedSample))
		resp, err := tr.RoundTrip(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		done <- resp
	}()
	require.Eventually(t, func() bool { return testutil.ToFloat64(b.h.metrics.connsReached) >= 1 }, 10*time.Second, time.Millisecond)
	select {
	case <-done:
		t.Fatal("a third connection was served while two were open")
	default:
	}
	require.NoError(t, idle[0].Close())
	resp := <-done
	require.NotNil(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, idle[1].Close())
}
