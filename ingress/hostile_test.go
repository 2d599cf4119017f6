package ingress

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider/cputime"
	"github.com/invitegate/invitegate/ingress/ingresstest"
)

var updateHostileSeeds = flag.Bool("update-hostile-seeds", false, "rewrite the hostile bodies (at 64 KiB) in testdata/fuzz/FuzzParseBody")

// hostileRequest is a reusable request carrying body.
func hostileRequest(body []byte) (*http.Request, *bytes.Reader) {
	r := httptest.NewRequest(http.MethodPost, "/callback?"+inviteQuery().Encode(), nil)
	r.ContentLength = int64(len(body))
	rd := bytes.NewReader(body)
	r.Body = io.NopCloser(rd)
	return r, rd
}

// TestHostileBodiesAnswered: every worst-case body up to --max-body-bytes
// gets its documented answer, allocating less than 4x its size. (Not
// parallel: it reads the process's allocation counter.)
func TestHostileBodiesAnswered(t *testing.T) {
	b := setup(t)
	for _, hb := range ingresstest.Bodies(int(b.cfg.withDefaults().MaxBodyBytes)) {
		r, rd := hostileRequest(hb.Data)
		serve := func() *httptest.ResponseRecorder {
			rd.Reset(hb.Data)
			w := httptest.NewRecorder()
			b.h.ServeHTTP(w, r)
			return w
		}
		w := serve()
		require.Equal(t, hb.Status, w.Code, "%s: %s", hb.Name, w.Body.String())
		const runs = 3
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			serve()
		}
		runtime.ReadMemStats(&after)
		perRequest := float64(after.TotalAlloc-before.TotalAlloc) / runs
		ratio := perRequest / float64(len(hb.Data))
		t.Logf("%-24s %8d bytes  alloc %.2fx", hb.Name, len(hb.Data), ratio)
		require.Less(t, ratio, 4.0, "%s allocates %.0f bytes for a body of %d", hb.Name, perRequest, len(hb.Data))
	}
}

// BenchmarkHostileBodies answers each worst-case body through the whole
// handler and reports the CPU time per answer (cpu-ms/op, from getrusage:
// steady under load) and the bytes allocated per body byte (alloc-x).
//
//	go test -run '^$' -bench HostileBodies -benchtime 20x ./ingress/
func BenchmarkHostileBodies(b *testing.B) {
	for _, maxBytes := range []int{DefaultMaxBodyBytes, 4 << 20} {
		for _, hb := range ingresstest.Bodies(maxBytes) {
			if maxBytes != DefaultMaxBodyBytes && hb.Name != "tiny-members" {
				continue // 4 MiB only to fit 100,000 tiny members
			}
			name := hb.Name
			if maxBytes != DefaultMaxBodyBytes {
				name += "-100k"
			}
			b.Run(name, func(b *testing.B) {
				h := benchHandler(b, &discardSink{})
				h.cfg.MaxBodyBytes = int64(maxBytes)
				h.cfg.CallbackToken = "" // unsigned: what an attacker sends when authentication is off
				r, rd := hostileRequest(hb.Data)
				b.SetBytes(int64(len(hb.Data)))
				b.ReportAllocs()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				alloc0, cpu0 := ms.TotalAlloc, cputime.Self()
				for b.Loop() {
					rd.Reset(hb.Data)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					if w.Code != hb.Status {
						b.Fatalf("status %d, want %d: %s", w.Code, hb.Status, w.Body)
					}
				}
				runtime.ReadMemStats(&ms)
				b.ReportMetric(float64(cputime.Self()-cpu0)/1e6/float64(b.N), "cpu-ms/op")
				b.ReportMetric(float64(ms.TotalAlloc-alloc0)/float64(b.N)/float64(len(hb.Data)), "alloc-x")
			})
		}
	}
}

// TestHostileSeedsCurrent keeps the 64 KiB hostile bodies in the fuzz seed
// corpus; -update-hostile-seeds rewrites them.
func TestHostileSeedsCurrent(t *testing.T) {
	t.Parallel()
	for _, hb := range ingresstest.Bodies(64 << 10) {
		path := filepath.Join("testdata", "fuzz", "FuzzParseBody", "hostile-"+hb.Name)
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\nbyte('\\x00')\n", strconv.Quote(string(hb.Data)))
		if *updateHostileSeeds {
			require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
		}
		got, err := os.ReadFile(path)
		require.NoError(t, err, "run go test ./ingress -run TestHostileSeedsCurrent -update-hostile-seeds")
		require.Equal(t, want, string(got), hb.Name)
	}
}
