package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/deploy"
	"github.com/invitegate/invitegate/migrations/pgtest"
)

// The seed's sample request (seed-before-invite-join-group.txt).
const seedSample = `{
"CallbackCommand": "Group.CallbackBeforeInviteJoinGroup",
"GroupId": "@TGS#2J4SZEAEL",
"Type": "Public",
"Operator_Account": "leckie",
"DestinationMembers": [{"Member_Account": "jared"}, {"Member_Account": "leckie"}],
"EventTime":"1670574414123"
}`

const demoApp = "1400000000"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/invitegate once per test process.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "invitegate-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "invitegate")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = &buildError{out: string(out), err: err}
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

type buildError struct {
	out string
	err error
}

func (b *buildError) Error() string { return b.err.Error() + ": " + b.out }

// process is a running invitegate with the addresses it logged.
type process struct {
	cmd      *exec.Cmd
	callback string // http://host:port/callback
	admin    string // host:port
	exited   chan error
	logs     *strings.Builder
	mu       sync.Mutex
}

// terminate sends SIGTERM and requires exit status 0 within 60 s.
func (p *process) terminate(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.exited:
		require.NoError(t, err, "exit status after SIGTERM\n%s", p.logText())
	case <-time.After(60 * time.Second):
		t.Fatalf("no exit within 60s of SIGTERM\n%s", p.logText())
	}
}

func (p *process) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// startProcess starts the binary with args and waits for "ingress listening".
func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	return startProcessUntil(t, "ingress listening", args...)
}

// startProcessUntil starts the binary with args and waits for the log line
// until: "ingress listening" (callback and admin addresses) or "admin
// listening" (a projector's admin address).
func startProcessUntil(t *testing.T, until string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &process{cmd: cmd, exited: make(chan error, 1), logs: &strings.Builder{}}
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			var rec struct{ Msg, Callback, Admin, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == until {
				p.mu.Lock()
				p.callback, p.admin = rec.Callback, cmp.Or(rec.Admin, rec.Addr)
				p.mu.Unlock()
				once.Do(func() { close(listening) })
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	select {
	case <-listening:
	case err := <-p.exited:
		t.Fatalf("invitegate exited before %q: %v\n%s", until, err, p.logText())
	case <-time.After(60 * time.Second):
		t.Fatalf("invitegate did not log %q within 60s\n%s", until, p.logText())
	}
	return p
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestRunEndToEnd starts `invitegate run` as a user would (embedded NATS,
// the machine's PostgreSQL), posts the seed's sample, finds the event in
// PostgreSQL, and stops the process with SIGTERM.
func TestRunEndToEnd(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	p := startProcess(t, "run", "--sdkappid", demoApp, "--policy", "../../deploy/policy/example.yaml",
		"--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--database-url", dsn, "--batch-wait", "20ms")

	query := "?SdkAppid=" + demoApp + "&CallbackCommand=Group.CallbackBeforeInviteJoinGroup&contenttype=json&ClientIP=127.0.0.1&OptPlatform=iOS"
	status, body := post(t, p.callback+query, seedSample)
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`, body)

	banned := strings.Replace(seedSample, `"Operator_Account": "leckie"`, `"Operator_Account": "spammer1"`, 1)
	status, body = post(t, p.callback+query, banned)
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"ActionStatus":"OK","ErrorCode":10101,"ErrorInfo":"You cannot invite users right now."}`, body)

	refused := strings.Replace(seedSample, `"jared"`, `"scam-bot-7"`, 1)
	status, body = post(t, p.callback+query, refused)
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RefusedMembers_Account":["scam-bot-7"]}`, body)

	status, body = post(t, p.callback+"?SdkAppid=1&CallbackCommand=Group.CallbackBeforeInviteJoinGroup", seedSample)
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, body, `"ActionStatus":"FAIL"`)

	status, body = get(t, "http://"+p.admin+"/readyz")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `"policy_revision":1`)
	require.Contains(t, body, `"callback_auth":"off"`, "run may answer unsigned callbacks, and says so")
	require.Contains(t, p.logText(), "callback authentication is off")

	// Every answered invite lands in PostgreSQL.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	require.Eventually(t, func() bool {
		var n int
		err := conn.QueryRow(ctx, `select count(*) from invitegate.invite_events`).Scan(&n)
		return err == nil && n == 3
	}, 30*time.Second, 50*time.Millisecond, "three invite events in PostgreSQL\n%s", p.logText())
	var outcomes []string
	rows, err := conn.Query(ctx, `select outcome from invitegate.invite_events order by received_at`)
	require.NoError(t, err)
	outcomes, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"allow", "reject", "partial"}, outcomes)

	_, metrics := get(t, "http://"+p.admin+"/metrics")
	require.Contains(t, metrics, `invitegate_callbacks_total{command="Group.CallbackBeforeInviteJoinGroup",outcome="allow"} 1`)
	requireDashboardMetrics(t, metrics)

	// SIGTERM: stop accepting, finish, exit 0.
	p.terminate(t)
	require.Contains(t, p.logText(), `"msg":"stopped"`)
}

// requireDashboardMetrics checks that every metric the Grafana dashboard and
// the alert rules read is exported by the running binary: no silent drift.
func requireDashboardMetrics(t *testing.T, metrics string) {
	t.Helper()
	names, err := deploy.MetricNames()
	require.NoError(t, err)
	require.NotEmpty(t, names)
	var missing []string
	for _, n := range names {
		if !strings.Contains(metrics, "\n"+n+"{") && !strings.Contains(metrics, "\n"+n+" ") {
			missing = append(missing, n)
		}
	}
	require.Empty(t, missing, "metrics read by deploy/grafana and deploy/prometheus but absent from /metrics")
}
