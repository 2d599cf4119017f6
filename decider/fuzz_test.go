package decider

import (
	"errors"
	"math"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzCompile feeds arbitrary documents to ParseDocument and Compile: they
// must never panic, every failure must be a *ValidationError, and a policy
// that compiles must decide the same with and without rule indexing.
//
//	go test ./decider -run '^$' -fuzz FuzzCompile -fuzztime 60s
func FuzzCompile(f *testing.F) {
	example, err := os.ReadFile("testdata/example.yaml")
	require.NoError(f, err)
	f.Add(example)
	f.Add([]byte(testLists + "  - name: a\n    refuse_member: member in lists.banned || int(member) > 3\n    mode: shadow\n"))
	f.Add([]byte(testLists + "  - name: a\n    reject: members[1] == operator && !(platform in lists.staff)\n    error_code: 10150\n"))
	f.Add([]byte(`{"apiVersion":"invitegate/v1","rules":[{"name":"a","refuse_member":"member.startsWith(operator)"}]}`))
	f.Add([]byte("apiVersion: invitegate/v1\nrules:\n  - name: a\n    reject: 1 +\n"))
	f.Add([]byte("apiVersion: [\n"))
	requests := []*Request{
		req("spammer1", "admin", "spammer2", "jared", "admin"),
		req("leckie"),
		{Operator: "", Members: []string{"", "1", "10101"}, EventTime: time.UnixMilli(-1)},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := ParseDocument(data)
		if err != nil {
			requireValidationError(t, err)
			return
		}
		indexed, err := compile(doc, 1, compileOptions{costBudget: math.MaxUint64})
		if err != nil {
			requireValidationError(t, err)
			return
		}
		celOnly, err := compile(doc, 1, compileOptions{noIndex: true, costBudget: math.MaxUint64})
		require.NoError(t, err)
		for _, r := range requests {
			require.Equal(t, celOnly.Decide(r), indexed.Decide(r))
		}
	})
}

func requireValidationError(t *testing.T, err error) {
	t.Helper()
	var ve *ValidationError
	require.True(t, errors.As(err, &ve), "not a *ValidationError: %v", err)
	require.NotEmpty(t, ve.Problems)
	require.NotEmpty(t, ve.Error())
}
