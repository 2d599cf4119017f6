package ingress

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

func TestAppendAnswer(t *testing.T) {
	t.Parallel()
	type imAnswer struct {
		ActionStatus           string
		ErrorCode              int
		ErrorInfo              string
		RefusedMembers_Account []string `json:",omitempty"` //nolint:revive // IM's field name
	}
	for _, tt := range []struct {
		code    int
		info    string
		refused []decider.Refusal
	}{
		{0, "", nil},
		{0, "", []decider.Refusal{{Member: "jared", Rule: "r"}, {Member: `we"ird<`, Rule: "r"}}},
		{10101, "Désolé: \"no\" <b>", nil},
		{1, "", nil},
	} {
		got := appendAnswer(nil, tt.code, tt.info, tt.refused)
		want, err := json.Marshal(imAnswer{"OK", tt.code, tt.info, (&decider.Decision{Refused: tt.refused}).RefusedMembers()})
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	}
	fail, err := json.Marshal(imAnswer{ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: "bad \x01 <input>"})
	require.NoError(t, err)
	require.Equal(t, string(fail), string(appendFail(nil, "bad \x01 <input>")))
}

func TestWriteFailSetsHeaders(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	writeFail(w, newCallbackError(http.StatusMethodNotAllowed, reasonMethod, "no"))
	require.Equal(t, http.StatusMethodNotAllowed, w.Code)
	require.Equal(t, "POST", w.Header().Get("Allow"))
	require.Equal(t, "application/json", w.Header().Get("Content-Type"))
	require.Equal(t, `{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"no"}`, w.Body.String())
	require.True(t, w.Flushed)
}

// TestAppendDecision: the answer of each outcome, as IM gets it; a
// rejection without its own code carries decider.DefaultRejectCode.
func TestAppendDecision(t *testing.T) {
	t.Parallel()
	refused := []decider.Refusal{{Member: "b", Rule: "r"}}
	for _, tt := range []struct {
		d    decider.Decision
		want string
	}{
		{decider.Decision{Outcome: decider.OutcomeAllow}, string(appendAnswer(nil, 0, "", nil))},
		{decider.Decision{Outcome: decider.OutcomeReject, ErrorInfo: "no"}, string(appendAnswer(nil, decider.DefaultRejectCode, "no", nil))},
		{decider.Decision{Outcome: decider.OutcomeReject, ErrorCode: decider.DefaultRejectCode + 7, ErrorInfo: "no"},
			string(appendAnswer(nil, decider.DefaultRejectCode+7, "no", nil))},
		{decider.Decision{Outcome: decider.OutcomePartial, Refused: refused}, string(appendAnswer(nil, 0, "", refused))},
	} {
		require.Equal(t, tt.want, string(AppendDecision(nil, &tt.d)), tt.d.Outcome)
	}
}

// TestInviteRequest: a body outside a callback is parsed and checked as
// the callback does it.
func TestInviteRequest(t *testing.T) {
	t.Parallel()
	req, err := InviteRequest(`{"GroupId":"g","Type":"Public","Operator_Account":"op","EventTime":"1700000000000",` +
		`"DestinationMembers":[{"Member_Account":"a"},{"Member_Account":"b"}]}`)
	require.NoError(t, err)
	require.Equal(t, "g", req.GroupID)
	require.Equal(t, "Public", req.GroupType)
	require.Equal(t, "op", req.Operator)
	require.Equal(t, []string{"a", "b"}, req.Members)
	require.Equal(t, int64(1700000000000), req.EventTime.UnixMilli())
	_, err = InviteRequest(`{"GroupId":"g","Operator_Account":"op"}`)
	require.ErrorContains(t, err, "missing DestinationMembers")
	_, err = InviteRequest(`{"CallbackCommand":"Group.CallbackAfterNewMemberJoin","GroupId":"g","Operator_Account":"op","DestinationMembers":[]}`)
	require.ErrorContains(t, err, "differs")
}
