package decider

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStateRoundTrip(t *testing.T) {
	t.Parallel()
	f := NewFold(nil, 0)
	require.NoError(t, f.Apply(replaced(foldDoc(t, "  banned: []\n  staff: [admin]\n  odd: []\n")), 3))
	big := make([]string, 9000)
	for i := range big {
		big[i] = fmt.Sprintf("u%d", i)
	}
	require.NoError(t, f.Apply(added("banned", big...), 4))
	require.NoError(t, f.Apply(added("odd", `quo"te`, `back\slash`, "ünï"), 5))
	require.ErrorIs(t, f.Apply(added("nope", "x"), 9), ErrInvalidChange)
	s := f.Snapshot()

	var buf bytes.Buffer
	require.NoError(t, WriteState(&buf, s, f.Position()))
	require.True(t, strings.HasPrefix(buf.String(), `{"format":"invitegate-policy-state/v1","revision":5,"position":9,`))
	got, pos, err := ReadState(&buf)
	require.NoError(t, err)
	require.Equal(t, uint64(9), pos)
	require.Equal(t, uint64(5), got.Revision())
	require.Equal(t, s.Document(), got.Document())
	for _, name := range s.ListNames() {
		require.Equal(t, s.ListEntries(name), got.ListEntries(name), name)
	}
	r := req("u7", "u1", "admin", "x")
	require.Equal(t, s.Decide(r), got.Decide(r))

	// A fold continues from a read state exactly as from the original.
	f2 := NewFold(got, pos)
	require.NoError(t, f2.Apply(removed("banned", "u1"), 10))
	require.False(t, f2.Snapshot().ListHas("banned", "u1"))
	require.True(t, got.ListHas("banned", "u1"))
}

func TestReadStateErrors(t *testing.T) {
	t.Parallel()
	doc := `{"apiVersion":"invitegate/v1","lists":{"banned":[]},"rules":[{"name":"b","refuse_member":"member in lists.banned"}]}`
	head := `{"format":"invitegate-policy-state/v1","revision":2,"position":2,"document":`
	cases := []struct{ data, want string }{
		{``, `EOF`},
		{`[]`, `want an object`},
		{`{"format":"other/v9"}`, `format "other/v9"`},
		{`{"format":"invitegate-policy-state/v1","bogus":1}`, `unknown field "bogus"`},
		{`{"format":"invitegate-policy-state/v1","revision":"x"}`, "revision"},
		{`{"format":"invitegate-policy-state/v1","lists":{}}`, "no document"},
		{head + doc + `,"lists":{}}`, `list "banned" of the document has no entries`},
		{head + doc + `,"lists":{"banned":[],"extra":[]}}`, `list "extra" is not in the document`},
		{head + doc + `,"lists":{"banned":[1]}}`, `lists`},
		{head + `{"apiVersion":"v0","rules":[]},"lists":{}}`, `apiVersion`},
		{head + `{"apiVersion":"invitegate/v1","rules":[],"x":1},"lists":{}}`, `unknown field "x"`},
		{head + doc + `,"lists":{"banned":["a"]`, `unexpected EOF`},
		{head + doc + `,"lists":{"banned":["a"],"banned":["b"]}}`, `duplicate key: list "banned"`},
		{head + doc + `,"document":{},"lists":{"banned":[]}}`, `duplicate key "document"`},
		{head + doc + `,"lists":{"banned":[]}} {}`, `trailing data`},
	}
	for _, c := range cases {
		_, _, err := ReadState(strings.NewReader(c.data))
		require.ErrorIs(t, err, ErrBadState, c.data)
		require.Contains(t, err.Error(), c.want, c.data)
	}
}
