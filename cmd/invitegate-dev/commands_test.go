package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMainCommandLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{nil, 2, "Usage: invitegate-dev <command>"},
		{[]string{"help"}, 0, "barehandler"},
		{[]string{"nope"}, 2, `unknown command "nope"`},
		{[]string{"compare", "--help"}, 0, "-skip-opa"},
		{[]string{"compare", "--no-such-flag"}, 2, "flag provided but not defined"},
		{[]string{"bench"}, 2, "want projector or analytics"},
		{[]string{"bench", "--help"}, 0, "bench projector|analytics"},
		{[]string{"bench", "projector", "--help"}, 0, "-events-per-message"},
		{[]string{"bench", "analytics", "--help"}, 0, "-reload"},
		{[]string{"bench", "analytics", "extra"}, 2, "unexpected arguments"},
		{[]string{"barehandler", "--help"}, 0, "-addr"},
	} {
		var stdout, stderr bytes.Buffer
		code := Main(t.Context(), tc.args, &stdout, &stderr)
		require.Equal(t, tc.code, code, "%v: %s%s", tc.args, stdout.String(), stderr.String())
		require.Contains(t, stdout.String()+stderr.String(), tc.out, "%v", tc.args)
	}
}

// TestBarehandler serves the baseline on a free port, answers a callback
// with the fixed refusal and exits 0 when its context ends, as the
// comparison runs it (a child process stopped by SIGTERM).
func TestBarehandler(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs, logw := io.Pipe()
	exit := make(chan int, 1)
	go func() {
		exit <- Main(ctx, []string{"barehandler", "--addr", "127.0.0.1:0"}, io.Discard, logw)
		logw.Close()
	}()
	line, err := bufio.NewReader(logs).ReadString('\n')
	require.NoError(t, err)
	go func() { _, _ = io.Copy(io.Discard, logs) }()
	var l struct{ Msg, Callback string }
	require.NoError(t, json.Unmarshal([]byte(line), &l))
	require.Equal(t, "barehandler listening", l.Msg)
	resp, err := http.Post(l.Callback+"?SdkAppid=1400000000", "application/json",
		strings.NewReader(`{"CallbackCommand":"Group.CallbackBeforeInviteJoinGroup","DestinationMembers":[{"Member_Account":"a"}]}`))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "RefusedMembers_Account")
	cancel()
	select {
	case code := <-exit:
		require.Zero(t, code)
	case <-time.After(10 * time.Second):
		t.Fatal("barehandler did not stop")
	}
}
