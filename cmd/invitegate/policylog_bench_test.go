package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/ingress/policyfeed"
)

// BenchmarkListAddMillion runs `invitegate list add banned - --wait` with a
// file of 1,000,000 ids on stdin against a JetStream server and one ingress
// replica (a policyfeed.Follower in this process), and reports:
//   - add-s: from the command's start to its return, once the replica
//     decides with the last revision (--wait);
//   - replica-heap-MiB: the live heap the replica keeps for the policy
//     (measured as the heap it frees when stopped and dropped);
//   - decide-ns: one decision of 50 members against it, two of them in
//     the list.
//
// "signed" signs every event (--signing-key) and runs the replica with
// --policy-trust; "unsigned" neither.
func BenchmarkListAddMillion(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "ids.txt")
	writeIDs(b, path, n)
	b.Run("unsigned", func(b *testing.B) { benchListAdd(b, path, n, false) })
	b.Run("signed", func(b *testing.B) { benchListAdd(b, path, n, true) })
}

func benchListAdd(b *testing.B, path string, n int, signed bool) {
	for b.Loop() {
		bb := setupCLI(b)
		var trust *decider.Trust
		if signed {
			bb.ok(b, "", "policy", "keygen", "--out", filepath.Join(bb.dir, "bench"))
			bb.env["INVITEGATE_SIGNING_KEY"] = filepath.Join(bb.dir, "bench.key")
			bb.env["INVITEGATE_POLICY_TRUST"] = filepath.Join(bb.dir, "bench.pub")
			var err error
			trust, err = loadTrust([]string{bb.env["INVITEGATE_POLICY_TRUST"]})
			require.NoError(b, err)
		}
		bb.ok(b, "", "policy", "apply", bb.file(b, "p.yaml", cliPolicy))
		engine := decider.NewEngine(decider.FailOpen, nil)
		dataDir := b.TempDir()
		f, err := policyfeed.New(policyfeed.Config{App: demoApp, DataDir: dataDir, ReplicaID: "bench", Trust: trust},
			bb.js, engine, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		require.NoError(b, err)
		require.NoError(b, f.Start(context.Background()))
		require.NoError(b, f.WaitRevision(context.Background(), 1))
		var stdin *os.File
		stdin, err = os.Open(path)
		require.NoError(b, err)
		start := time.Now()
		out := bb.okStdin(b, stdin, "list", "add", "banned", "-", "--wait", "--wait-timeout", "5m", "--timeout", "10m")
		took := time.Since(start)
		stdin.Close()
		b.Log(out)
		s := engine.Snapshot()
		require.Equal(b, n, s.ListSize("banned"))

		members := make([]string, 50)
		for i := range members {
			members[i] = fmt.Sprintf("guest_%04d", i)
		}
		members[10], members[30] = "user0000123", "user0999999"
		r := &decider.Request{App: demoApp, Operator: "op", Members: members}
		require.Len(b, engine.Decide(r).Refused, 2)
		const decisions = 20000
		dstart := time.Now()
		for range decisions {
			engine.Decide(r)
		}
		decideNs := float64(time.Since(dstart).Nanoseconds()) / decisions

		// The replica's saver writes its snapshot to disk after the burst;
		// while it writes, it holds an older snapshot too (transient).
		require.Eventually(b, func() bool { return savedRevision(b, dataDir) == s.Revision() }, time.Minute, 10*time.Millisecond)
		withReplica := liveHeap()
		require.NoError(b, f.Stop(context.Background()))
		f, engine, s = nil, nil, nil
		runtime.KeepAlive(f)
		without := liveHeap()
		b.ReportMetric(took.Seconds(), "add-s")
		b.ReportMetric(float64(int64(withReplica)-int64(without))/(1<<20), "replica-heap-MiB")
		b.ReportMetric(decideNs, "decide-ns")
	}
}

func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func writeIDs(b *testing.B, path string, n int) {
	b.Helper()
	out, err := os.Create(path)
	require.NoError(b, err)
	w := bufio.NewWriter(out)
	for i := range n {
		fmt.Fprintf(w, "user%07d\n", i)
	}
	require.NoError(b, w.Flush())
	require.NoError(b, out.Close())
}

// okStdin runs the CLI with stdin and requires success.
func (c *cliBundle) okStdin(tb testing.TB, stdin io.Reader, args ...string) string {
	tb.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, env{stdin: stdin, stdout: &out, stderr: &errb,
		getenv: func(k string) string { return c.env[k] }})
	require.Equal(tb, exitOK, code, "%v: %s", args, errb.String())
	return out.String()
}

// savedRevision reads the revision at the head of the replica's snapshot
// file (0 when there is none yet).
func savedRevision(b *testing.B, dataDir string) uint64 {
	f, err := os.Open(filepath.Join(dataDir, "policy", demoApp+".json"))
	if err != nil {
		return 0
	}
	defer f.Close()
	head := make([]byte, 128)
	n, _ := io.ReadFull(f, head)
	var rev uint64
	if i := bytes.Index(head[:n], []byte(`"revision":`)); i >= 0 {
		fmt.Sscanf(string(head[i+len(`"revision":`):n]), "%d", &rev)
	}
	return rev
}
