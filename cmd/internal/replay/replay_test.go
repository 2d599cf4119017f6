package replay_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/replay"
	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/invitegate/invitegate/migrations/natsconn/natstest"
	"github.com/invitegate/invitegate/migrations/pgtest"
	"github.com/invitegate/invitegate/projector"
)

const waitFor = 60 * time.Second

// inForce is the policy the recorded invites were decided with: the
// example policy plus a flood rule that reads statistics only when the
// cheaper test before it passes (so most of its reads are unread).
const inForce = `
apiVersion: invitegate/v1
lists:
  banned_operators: [spammer1]
  banned_members: [scam-bot-7]
  staff: [admin]
rules:
  - name: banned-operator
    reject: operator in lists.banned_operators
    error_code: 10101
  - name: community-staff-only
    reject: group.type == "Community" && !(operator in lists.staff)
  - name: flood
    reject: platform == "RESTAPI" && stats.operator_invites_1h > 100
  - name: banned-member
    refuse_member: member in lists.banned_members
  - name: hot-member
    refuse_member: group.type == "Private" && stats.member_invited_1h > 50
  - name: no-self-invite
    refuse_member: member == operator
    mode: shadow
`

// statsOf are the statistics the ingress held while the invites were decided.
type statsOf struct{}

func (statsOf) Stat(st decider.Stat, _ string, key string) int64 {
	n := int64(len(key)) * 17 // varied, deterministic
	if strings.HasSuffix(key, "7") {
		n += 100
	}
	return n
}

func compile(t testing.TB, src string) *decider.Snapshot {
	t.Helper()
	doc, err := decider.ParseDocument([]byte(src))
	require.NoError(t, err)
	snap, err := decider.Compile(doc, 1)
	require.NoError(t, err)
	return snap
}

// traffic is n invites decided with the policy in force, one a second
// ending at end.
func traffic(t *testing.T, n int, end time.Time) ([]decider.Request, []decider.Event) {
	snap := compile(t, inForce)
	ops := []string{"alice", "bob", "op-7", "spammer1", "admin", "carol"}
	types := []string{"Public", "Private", "Community", "ChatRoom"}
	platforms := []string{"iOS", "RESTAPI", "Android"}
	reqs := make([]decider.Request, n)
	evs := make([]decider.Event, n)
	for i := range n {
		op := ops[i%len(ops)]
		members := []string{fmt.Sprintf("u%d", i), fmt.Sprintf("u%d", i%37)}
		if i%5 == 0 {
			members = append(members, "scam-bot-7")
		}
		if i%11 == 0 {
			members = append(members, op, members[0]) // a self-invite and a repeated member
		}
		reqs[i] = decider.Request{App: "1400000000", GroupID: fmt.Sprintf("g%d", i%13), GroupType: types[i%len(types)],
			Operator: op, Members: members, Platform: platforms[i%len(platforms)], ClientIP: "203.0.113.9",
			EventTime: end.Add(-time.Duration(n-i) * time.Second).Truncate(time.Millisecond)}
		d := snap.DecideWith(&reqs[i], statsOf{})
		at := end.Add(-time.Duration(n-i) * time.Second)
		evs[i] = decider.NewInviteEvent(&reqs[i], &d, at, at)
	}
	return reqs, evs
}

// record stores evs the way production does: published to JetStream in
// batches and written to PostgreSQL by the projector.
func record(t *testing.T, evs []decider.Event) string {
	t.Helper()
	dsn := pgtest.NewMigrated(t)
	srv := natstest.Start(t, "")
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	_, err = natsconn.EnsureEventStream(ctx, js, natsconn.EventStreamConfig{})
	require.NoError(t, err)
	for start := 0; start < len(evs); start += 50 {
		var data []byte
		chunk := evs[start:min(start+50, len(evs))]
		for i := range chunk {
			data, err = decider.AppendEvent(data, &chunk[i])
			require.NoError(t, err)
		}
		msg := nats.NewMsg(decider.EventSubject(chunk[0].App, decider.KindInvite))
		msg.Data = data
		msg.Header.Set(decider.HeaderCount, strconv.Itoa(len(chunk)))
		msg.Header.Set(decider.HeaderContent, decider.ContentType)
		msg.Header.Set(nats.MsgIdHdr, fmt.Sprintf("replay-test-%d", start))
		_, err = js.PublishMsg(ctx, msg)
		require.NoError(t, err)
	}
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	w, err := projector.New(projector.Config{DatabaseURL: dsn, BatchWait: 20 * time.Millisecond}, js, pool,
		slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, w.Start(ctx))
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, w.Stop(sctx))
	})
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM invitegate.invite_events").Scan(&n))
		return n == len(evs)
	}, waitFor, 10*time.Millisecond)
	return dsn
}

// expected decides reqs with cand and the statistics the ingress held,
// in memory, and counts the difference from evs as Summary defines it.
func expected(reqs []decider.Request, evs []decider.Event, cand *decider.Snapshot) replay.Summary {
	var s replay.Summary
	for i := range reqs {
		before := evs[i]
		d := cand.DecideWith(&reqs[i], statsOf{})
		s.Requests++
		bRej, aRej := before.Outcome == decider.OutcomeReject, d.Outcome == decider.OutcomeReject
		changed := before.Outcome != d.Outcome || bRej && before.ErrorCode != d.ErrorCode
		var seen []string
		for _, m := range reqs[i].Members {
			if slices.Contains(seen, m) {
				continue
			}
			seen = append(seen, m)
			b := bRej || slices.ContainsFunc(before.Refused, func(r decider.Refusal) bool { return r.Member == m })
			a := aRej || slices.ContainsFunc(d.Refused, func(r decider.Refusal) bool { return r.Member == m })
			if a && !b {
				s.MembersNewlyRefused++
			}
			if b && !a {
				s.MembersNewlyAllowed++
			}
			changed = changed || !bRej && !aRej && a != b
		}
		if aRej && !bRej {
			s.NewlyRejected++
		}
		if bRej && !aRej {
			s.NewlyAllowed++
		}
		if changed {
			s.Changed++
		}
	}
	return s
}

func totals(s replay.Summary) []int64 {
	return []int64{s.Requests, s.Changed, s.NewlyRejected, s.NewlyAllowed, s.MembersNewlyRefused, s.MembersNewlyAllowed}
}

func TestReplay(t *testing.T) {
	t.Parallel()
	end := time.Now().UTC().Truncate(time.Second)
	reqs, evs := traffic(t, 600, end)
	dsn := record(t, evs)
	window := func(cand *decider.Snapshot) replay.Config {
		return replay.Config{DatabaseURL: dsn, Candidate: cand, Since: end.Add(-time.Hour), Until: end.Add(time.Second), Workers: 3}
	}
	ctx := context.Background()

	t.Run("the policy in force changes nothing", func(t *testing.T) {
		t.Parallel()
		s, err := replay.Run(ctx, window(compile(t, inForce)))
		require.NoError(t, err)
		require.Equal(t, []int64{600, 0, 0, 0, 0, 0}, totals(s))
		require.Zero(t, s.StatsUnrecorded)
		require.Equal(t, s.Before, s.After)
		require.Empty(t, s.Samples)
	})

	t.Run("banning one operator changes exactly that operator's requests", func(t *testing.T) {
		t.Parallel()
		cand := compile(t, strings.Replace(inForce, "banned_operators: [spammer1]", "banned_operators: [spammer1, bob]", 1))
		s, err := replay.Run(ctx, window(cand))
		require.NoError(t, err)
		var bobs, bobsRejected, bobMembers int64
		for i := range evs {
			if evs[i].Operator != "bob" {
				continue
			}
			bobs++
			if evs[i].Outcome == decider.OutcomeReject {
				bobsRejected++
				continue
			}
			var distinct []string
			for _, m := range evs[i].Members {
				if !slices.Contains(distinct, m) && !slices.ContainsFunc(evs[i].Refused, func(r decider.Refusal) bool { return r.Member == m }) {
					distinct = append(distinct, m)
				}
			}
			bobMembers += int64(len(distinct))
		}
		require.Equal(t, int64(100), bobs)
		changed := bobs - bobsRejected
		require.Equal(t, []int64{600, changed, changed, 0, bobMembers, 0}, totals(s))
		require.Equal(t, []replay.KeyCount{{App: "1400000000", Key: "bob", Changed: changed}}, s.TopOperators)
		require.True(t, s.TopExact)
		require.Len(t, s.Samples, 5)
		for _, x := range s.Samples {
			require.Equal(t, "bob", x.Operator)
			require.Equal(t, decider.OutcomeReject, x.After.Outcome)
			require.Equal(t, "banned-operator", x.After.RejectRule)
		}
		rejected := s.ByRule[0]
		require.Equal(t, "banned-operator", rejected.Rule)
		require.Equal(t, int64(100+100), rejected.RequestsRejected, "spammer1's and bob's")
	})

	t.Run("a candidate reading statistics differently gets the values the ingress held", func(t *testing.T) {
		t.Parallel()
		// The flood rule now reads stats on every platform, and hot-member
		// in every group type: values the policy in force often did not read.
		src := strings.Replace(inForce, `platform == "RESTAPI" && stats.operator_invites_1h > 100`, `stats.operator_invites_1h > 100`, 1)
		src = strings.Replace(src, `group.type == "Private" && stats.member_invited_1h > 50`, `stats.member_invited_1h > 50`, 1)
		cand := compile(t, src)
		s, err := replay.Run(ctx, window(cand))
		require.NoError(t, err)
		want := expected(reqs, evs, cand)
		require.Equal(t, totals(want), totals(s))
		require.NotZero(t, s.Changed)
		require.Zero(t, s.StatsUnrecorded, "every value the candidate read was recorded")
	})

	t.Run("a statistic the policy in force did not read is counted as unrecorded", func(t *testing.T) {
		t.Parallel()
		cand := compile(t, inForce+`
  - name: busy-group
    reject: stats.group_invites_1h > 1000
`)
		s, err := replay.Run(ctx, window(cand))
		require.NoError(t, err)
		require.Equal(t, int64(600), s.StatsUnrecorded)
		require.Zero(t, s.Changed)
	})

	t.Run("one app and a narrower window", func(t *testing.T) {
		t.Parallel()
		cfg := window(compile(t, inForce))
		cfg.App, cfg.Since = "1400000000", end.Add(-100*time.Second)
		s, err := replay.Run(ctx, cfg)
		require.NoError(t, err)
		require.Equal(t, int64(100), s.Requests)
		cfg.App = "1400000001"
		s, err = replay.Run(ctx, cfg)
		require.NoError(t, err)
		require.Zero(t, s.Requests)
	})
}

// TestReplayReadOnlyRoleAndOldRows replays as a role that may only SELECT,
// over rows stored before invite_events.members existed.
func TestReplayReadOnlyRoleAndOldRows(t *testing.T) {
	t.Parallel()
	end := time.Now().UTC().Truncate(time.Second)
	reqs, evs := traffic(t, 120, end)
	dsn := record(t, evs)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer pool.Close()
	_, err = pool.Exec(ctx, `UPDATE invitegate.invite_events SET members = NULL WHERE stream_seq % 2 = 0`)
	require.NoError(t, err)
	role := pgtest.RandomName("analyst_")
	for _, sql := range []string{
		"CREATE ROLE " + role + " LOGIN",
		"GRANT USAGE ON SCHEMA invitegate TO " + role,
		"GRANT SELECT ON ALL TABLES IN SCHEMA invitegate TO " + role,
	} {
		_, err = pool.Exec(ctx, sql)
		require.NoError(t, err, sql)
	}
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP OWNED BY "+role)
		_, _ = pool.Exec(context.Background(), "DROP ROLE "+role)
	})
	analyst := strings.Replace(dsn, "postgres://postgres@", "postgres://"+role+"@", 1)
	cand := compile(t, strings.Replace(inForce, "banned_members: [scam-bot-7]", "banned_members: [scam-bot-7, u3]", 1))
	s, err := replay.Run(ctx, replay.Config{DatabaseURL: analyst, Candidate: cand, Since: end.Add(-time.Hour), Until: end.Add(time.Second)})
	require.NoError(t, err)
	require.Equal(t, totals(expected(reqs, evs, cand)), totals(s))
	require.NotZero(t, s.MembersNewlyRefused)

	var out strings.Builder
	require.NoError(t, replay.WriteText(&out, &s))
	require.Contains(t, out.String(), "members newly refused")
	require.Contains(t, out.String(), "top operators affected")
	if testing.Verbose() {
		fmt.Fprintln(os.Stderr, out.String())
	}
}

// TestReplaySkipsLimited replays invites a bound kept the policy from
// deciding: their recorded answer is the fail mode's, so they are counted
// apart, not compared with the candidate's.
func TestReplaySkipsLimited(t *testing.T) {
	t.Parallel()
	end := time.Now().UTC().Truncate(time.Second)
	reqs, evs := traffic(t, 100, end)
	var limited int64
	for i := range evs {
		limit := map[int]string{0: decider.LimitDecisionTimeout, 5: decider.LimitMaxMembers}[i%10]
		if limit == "" {
			continue
		}
		// Each of these carries scam-bot-7, whom the policy refuses: the
		// fail mode (open) let them all in.
		ev := &evs[i]
		ev.Outcome, ev.Refused, ev.RejectRule, ev.ErrorCode, ev.Shadow, ev.PolicyRevision = decider.OutcomeAllow, nil, "", 0, nil, 0
		ev.FailMode, ev.Limit, ev.Stats, ev.StatsUnread, ev.StatsKnown = true, limit, nil, nil, nil
		limited++
	}
	require.Equal(t, int64(20), limited)
	dsn := record(t, evs)
	s, err := replay.Run(context.Background(), replay.Config{DatabaseURL: dsn, Candidate: compile(t, inForce),
		Since: end.Add(-time.Hour), Until: end.Add(time.Second), Workers: 2})
	require.NoError(t, err)
	require.Equal(t, limited, s.Limited)
	require.Equal(t, []int64{100 - limited, 0, 0, 0, 0, 0}, totals(s), "the policy in force changes none of the invites it decided")

	var decided []decider.Request
	var decidedEvs []decider.Event
	for i := range evs {
		if evs[i].Limit == "" {
			decided, decidedEvs = append(decided, reqs[i]), append(decidedEvs, evs[i])
		}
	}
	cand := compile(t, strings.Replace(inForce, "banned_operators: [spammer1]", "banned_operators: [spammer1, bob]", 1))
	s, err = replay.Run(context.Background(), replay.Config{DatabaseURL: dsn, Candidate: cand,
		Since: end.Add(-time.Hour), Until: end.Add(time.Second)})
	require.NoError(t, err)
	require.Equal(t, limited, s.Limited)
	require.Equal(t, totals(expected(decided, decidedEvs, cand)), totals(s))
	require.NotZero(t, s.Changed)

	var out strings.Builder
	require.NoError(t, replay.WriteText(&out, &s))
	require.Contains(t, out.String(), "skipped 20 invites not decided by the policy")
}
