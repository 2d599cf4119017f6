package loadgen

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The server sees IM's query parameters, signed with the injected clock, and
// IM's body shape.
func TestRunSendsIMRequests(t *testing.T) {
	t.Parallel()
	srv := &capturingServer{}
	b := setup(t, srv)
	cfg := b.config(40)
	cfg.Token = "xxxxyyyy"
	cfg.SdkAppID = "1400123456"
	cfg.MembershipShare = 0.5
	cfg.Now = func() time.Time { return time.Unix(1669872112, 0) }

	rep, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	require.EqualValues(t, 40, rep.Answered)
	require.Equal(t, map[string]int64{OutcomeAllow: rep.Outcomes[OutcomeAllow], OutcomeOK: rep.Outcomes[OutcomeOK]}, rep.Outcomes)

	reqs := srv.all()
	require.Len(t, reqs, 40)
	commands := map[string]int{}
	for _, r := range reqs {
		q := r.query
		require.Equal(t, "1400123456", q.Get("SdkAppid"))
		require.Equal(t, "json", q.Get("contenttype"))
		require.Contains(t, DefaultPlatforms, q.Get("OptPlatform"))
		require.Regexp(t, `^203\.0\.113\.\d+$`, q.Get("ClientIP"))
		require.Equal(t, "1669872112", q.Get("RequestTime"))
		require.Equal(t, "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061", q.Get("Sign"))

		body := r.body
		require.NotNil(t, body, "body is not JSON")
		cmd := q.Get("CallbackCommand")
		commands[cmd]++
		require.Equal(t, cmd, body["CallbackCommand"])
		require.Equal(t, "1669872112000", body["EventTime"]) // a string, like IM's samples
		require.NotEmpty(t, body["GroupId"])
		require.Contains(t, []any{"Public", "Private", "ChatRoom", "Community"}, body["Type"])
		require.NotEmpty(t, body["Operator_Account"])
		list := map[string]string{
			CommandBeforeInviteJoinGroup: "DestinationMembers",
			CommandAfterNewMemberJoin:    "NewMemberList",
			CommandAfterMemberExit:       "ExitMemberList",
		}[cmd]
		require.NotEmpty(t, list, "unexpected command %q", cmd)
		members, ok := body[list].([]any)
		require.True(t, ok, "%s missing in %v", list, body)
		require.NotEmpty(t, members)
		require.NotEmpty(t, members[0].(map[string]any)["Member_Account"])
		switch cmd {
		case CommandAfterNewMemberJoin:
			require.Contains(t, []any{"Invited", "Apply"}, body["JoinType"])
		case CommandAfterMemberExit:
			require.Contains(t, []any{"Kicked", "Quit"}, body["ExitType"])
		}
	}
	require.Len(t, commands, 3)
}

func TestRunUnsignedWithoutToken(t *testing.T) {
	t.Parallel()
	srv := &capturingServer{}
	b := setup(t, srv)
	_, err := Run(context.Background(), b.config(3))
	require.NoError(t, err)
	for _, r := range srv.all() {
		require.False(t, r.query.Has("Sign"))
		require.False(t, r.query.Has("RequestTime"))
	}
}

func TestBodyEscapesLikeJSON(t *testing.T) {
	t.Parallel()
	odd := []string{"plain", `quo"te`, `back\slash`, "tab\tnew\nline\x01", "ünï©ødé", "bad\xffutf8", ""}
	d := &draw{command: CommandBeforeInviteJoinGroup, groupID: odd[1], groupType: odd[2], operator: odd[3], members: odd}
	var got struct {
		GroupID            string `json:"GroupId"`
		Type               string
		Operator           string `json:"Operator_Account"`
		DestinationMembers []struct{ Member_Account string }
		EventTime          string
	}
	require.NoError(t, json.Unmarshal(body(d, 42), &got))
	require.Equal(t, odd[1], got.GroupID)
	require.Equal(t, odd[2], got.Type)
	require.Equal(t, odd[3], got.Operator)
	require.Equal(t, "42", got.EventTime)
	require.Len(t, got.DestinationMembers, len(odd))
	for i, m := range got.DestinationMembers {
		want := odd[i]
		if i == 5 {
			want = "bad\ufffdutf8"
		}
		require.Equal(t, want, m.Member_Account)
	}
}

func TestGeneratorIsReproducible(t *testing.T) {
	t.Parallel()
	cfg := Config{URL: "http://x", Seed: 3, RunID: "r", BannedShare: 0.3, MembershipShare: 0.3}.withDefaults()
	g1, g2 := newGenerator(cfg), newGenerator(cfg)
	banned := 0
	for i := range 1000 {
		a, b := g1.next(), g2.next()
		require.Equal(t, a, b)
		require.Equal(t, "r."+strconv.Itoa(i), a.key)
		seen := map[string]bool{}
		for _, m := range a.members {
			require.False(t, seen[m], "member %s twice in one invite", m)
			seen[m] = true
			if len(m) > 7 && m[:7] == "banned-" {
				banned++
			}
		}
	}
	require.Greater(t, banned, 300) // 30 % of ~3000 members
	require.Less(t, banned, 1500)
}
