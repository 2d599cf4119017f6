package loadgen

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/ingress"
)

func TestInviterSendsAGivenOperator(t *testing.T) {
	t.Parallel()
	cs := &capturingServer{}
	b := setup(t, cs)
	in, err := NewInviter(Config{URL: b.url, Token: "tok"})
	require.NoError(t, err)
	defer in.Close()
	out, err := in.Send(context.Background(), Invite{Operator: "flooder", GroupID: "@TGS#g", Members: []string{"a", "b"}})
	require.NoError(t, err)
	require.Equal(t, OutcomeAllow, out)
	reqs := cs.all()
	require.Len(t, reqs, 1)
	q, body := reqs[0].query, reqs[0].body
	require.Equal(t, CommandBeforeInviteJoinGroup, q.Get("CallbackCommand"))
	_, err = strconv.ParseInt(q.Get("RequestTime"), 10, 64)
	require.NoError(t, err)
	require.Equal(t, ingress.Sign("tok", q.Get("RequestTime")), q.Get("Sign"))
	require.Equal(t, "flooder", body["Operator_Account"])
	require.Equal(t, "@TGS#g", body["GroupId"])
	require.Len(t, body["DestinationMembers"], 2)
}

func TestInviterOutcomesAndErrors(t *testing.T) {
	t.Parallel()
	reject := setup(t, fixedAnswer(http.StatusOK, `{"ActionStatus":"OK","ErrorCode":10007,"ErrorInfo":"no"}`))
	in, err := NewInviter(Config{URL: reject.url})
	require.NoError(t, err)
	out, err := in.Send(context.Background(), Invite{Operator: "o", GroupID: "g", Members: []string{"m"}})
	require.NoError(t, err)
	require.Equal(t, OutcomeReject, out)

	_, err = in.Send(context.Background(), Invite{Operator: "o", GroupID: "g"})
	require.ErrorContains(t, err, "at least one member")

	broken := setup(t, fixedAnswer(http.StatusInternalServerError, "oops"))
	in, err = NewInviter(Config{URL: broken.url})
	require.NoError(t, err)
	_, err = in.Send(context.Background(), Invite{Operator: "o", GroupID: "g", Members: []string{"m"}})
	require.ErrorContains(t, err, "loadgen: status: 500")

	_, err = NewInviter(Config{URL: broken.url, MaxMembers: -1})
	require.ErrorContains(t, err, "max members -1 must be >= 1")
}
