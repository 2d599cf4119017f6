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
