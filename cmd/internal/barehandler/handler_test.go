package barehandler

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func setup(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(New())
	t.Cleanup(srv.Close)
	return srv.URL + "/im?SdkAppid=1400000000&CallbackCommand=Group.CallbackBeforeInviteJoinGroup&contenttype=json"
}

const invite = `{"CallbackCommand":"Group.CallbackBeforeInviteJoinGroup","GroupId":"@TGS#2J4SZEAEL","Type":"Public",
"Operator_Account":"leckie","DestinationMembers":[{"Member_Account":"jared"},{"Member_Account":"leckie"}],"EventTime":"1670574414123"}`

func TestHandler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		body   string
		status int
		answer string
	}{
		{"refuses the first member", "POST", invite, 200,
			`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RefusedMembers_Account":["jared"]}`},
		{"numeric EventTime", "POST", strings.Replace(invite, `"1670574414123"`, `1670574414123`, 1), 200,
			`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RefusedMembers_Account":["jared"]}`},
		{"no members allows", "POST", `{"CallbackCommand":"Group.CallbackBeforeInviteJoinGroup","DestinationMembers":[]}`, 200,
			`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`},
		{"other command is OK", "POST", `{"CallbackCommand":"Group.CallbackAfterNewMemberJoin","NewMemberList":[{"Member_Account":"a"}]}`, 200,
			`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`},
		{"not JSON", "POST", `hello`, 400, ""},
		{"wrong shape", "POST", `{"DestinationMembers":"x"}`, 400, ""},
		{"oversized", "POST", `{"GroupId":"` + strings.Repeat("a", maxBody) + `"}`, 413, ""},
		{"GET", "GET", "", 405, ""},
	}
	url := setup(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tt.method, url, strings.NewReader(tt.body))
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, tt.status, resp.StatusCode, string(data))
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			if tt.answer != "" {
				require.JSONEq(t, tt.answer, string(data))
				return
			}
			var a answer
			require.NoError(t, json.Unmarshal(data, &a))
			require.Equal(t, "FAIL", a.ActionStatus)
			require.Equal(t, 1, a.ErrorCode)
			require.NotEmpty(t, a.ErrorInfo)
		})
	}
}

func BenchmarkHandler(b *testing.B) {
	h := New()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/im", strings.NewReader(invite))
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
