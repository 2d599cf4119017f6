package loadgen

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/barehandler"
)

// testBundle is what most tests need: a server URL and a record file path.
type testBundle struct {
	url    string
	record string
}

// setup serves h (barehandler when nil) on a loopback httptest server.
func setup(t *testing.T, h http.Handler) *testBundle {
	t.Helper()
	if h == nil {
		h = barehandler.New()
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testBundle{url: srv.URL + "/im", record: filepath.Join(t.TempDir(), "record.ndjson")}
}

// config is a small, fast, reproducible run against the bundle's server.
func (b *testBundle) config(requests int64) Config {
	return Config{
		URL: b.url, Requests: requests, Concurrency: 4, Seed: 7, RunID: "test",
		Operators: 50, Groups: 20, Users: 200, MaxMembers: 3,
	}
}

func (b *testBundle) records(t *testing.T) []Record {
	t.Helper()
	f, err := os.Open(b.record)
	require.NoError(t, err)
	defer f.Close()
	recs, err := ReadRecords(f)
	require.NoError(t, err)
	return recs
}

// captured is one request as a server saw it.
type captured struct {
	query url.Values
	body  map[string]any
}

// capturingServer answers every request with allow and keeps what it got.
type capturingServer struct {
	mu   sync.Mutex
	reqs []captured
}

func (c *capturingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(data, &body) // a bad body shows as nil in the test's assertions
	c.mu.Lock()
	c.reqs = append(c.reqs, captured{query: r.URL.Query(), body: body})
	c.mu.Unlock()
	io.WriteString(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`)
}

func (c *capturingServer) all() []captured {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]captured(nil), c.reqs...)
}

// fixedAnswer answers every request with status and body.
func fixedAnswer(status int, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
}

// blockUntilClientGoes holds every request until the client gives up (its
// timeout or cancel closes the connection), telling arrived (if not nil)
// each time one comes in. The body must be read first: only then does the
// server watch the connection and cancel r.Context() when it closes.
func blockUntilClientGoes(arrived chan<- struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if arrived != nil {
			select {
			case arrived <- struct{}{}:
			default:
			}
		}
		<-r.Context().Done()
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
