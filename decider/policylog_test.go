package decider

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const changeDoc = `{"apiVersion":"invitegate/v1","lists":{"banned":[]},"rules":[{"name":"banned-member","refuse_member":"member in lists.banned"}]}`

func TestParseChangeAccepts(t *testing.T) {
	t.Parallel()
	c, err := ParseChange([]byte(`{"kind":"replaced","author":"alice","time":"2026-01-02T15:04:05Z","reason":"r","rollback_of":7,"document":` + changeDoc + `}`))
	require.NoError(t, err)
	require.Equal(t, ChangeReplaced, c.Kind)
	require.Equal(t, "alice", c.Author)
	require.Equal(t, time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC), c.Time)
	require.Equal(t, uint64(7), c.RollbackOf)
	require.Equal(t, "banned-member", c.Document.Rules[0].Name)
	require.NoError(t, c.Validate())

	c, err = ParseChange([]byte(`{"kind":"list.added","list":"banned","ids":["u1","名字"]}`))
	require.NoError(t, err)
	require.Equal(t, []string{"u1", "名字"}, c.IDs)

	data, err := c.Marshal()
	require.NoError(t, err)
	require.JSONEq(t, `{"kind":"list.added","list":"banned","ids":["u1","名字"]}`, string(data))
	back, err := ParseChange(data)
	require.NoError(t, err)
	require.Equal(t, c, back)
}

func TestParseChangeRejects(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", MaxListIDBytes+1)
	cases := []struct {
		data, reason, want string
	}{
		{`not json`, RejectMalformed, "decode"},
		{`{"kind":"list.added","list":"banned","ids":["a"]} {}`, RejectMalformed, "trailing data"},
		{`{"kind":"list.added","list":"banned","ids":["a"],"extra":1}`, RejectMalformed, `unknown field "extra"`},
		{`{"list":"banned","ids":["a"]}`, RejectMalformed, "kind is required"},
		{`{"kind":"list.cleared","list":"banned","ids":["a"]}`, RejectMalformed, `unknown kind "list.cleared"`},
		{`{"kind":"replaced"}`, RejectMalformed, "needs a document"},
		{`{"kind":"replaced","list":"x","document":` + changeDoc + `}`, RejectMalformed, "no list or ids"},
		{`{"kind":"replaced","document":{"apiVersion":"invitegate/v1","rules":[],"bogus":1}}`, RejectInvalidPolicy, `unknown field "bogus"`},
		{`{"kind":"list.added","list":"banned"}`, RejectMalformed, "at least one id"},
		{`{"kind":"list.added","list":"banned","ids":[]}`, RejectMalformed, "at least one id"},
		{`{"kind":"list.removed","list":"bad-name","ids":["a"]}`, RejectMalformed, `list "bad-name"`},
		{`{"kind":"list.added","list":"banned","ids":["a"],"document":` + changeDoc + `}`, RejectMalformed, "no document"},
		{`{"kind":"list.added","list":"banned","ids":["a",""]}`, RejectMalformed, "ids[1]: empty id"},
		{`{"kind":"list.added","list":"banned","ids":[" a"]}`, RejectMalformed, "surrounding spaces"},
		{`{"kind":"list.added","list":"banned","ids":["a\tb"]}`, RejectMalformed, "control character"},
		{`{"kind":"list.added","list":"banned","ids":["` + long + `"]}`, RejectMalformed, "257 bytes"},
		{`{"kind":"list.added","list":"banned","ids":[1]}`, RejectMalformed, "decode"},
	}
	for _, c := range cases {
		_, err := ParseChange([]byte(c.data))
		requireChangeError(t, err, c.reason, c.want)
	}
}

func requireChangeError(t *testing.T, err error, reason, want string) {
	t.Helper()
	require.ErrorIs(t, err, ErrInvalidChange)
	var ce *ChangeError
	require.True(t, errors.As(err, &ce), "%v", err)
	require.Equal(t, reason, ce.Reason, "%v", err)
	require.Contains(t, err.Error(), want)
}

func TestValidateCompilesTheDocument(t *testing.T) {
	t.Parallel()
	c, err := ParseChange([]byte(`{"kind":"replaced","document":{"apiVersion":"invitegate/v1","rules":[{"name":"x","reject":"operator in lists.nope"}]}}`))
	require.NoError(t, err, "the shape is fine")
	err = c.Validate()
	requireChangeError(t, err, RejectInvalidPolicy, `undefined list "nope"`)
	require.ErrorIs(t, err, ErrInvalidPolicy)
}

func TestCheckAgainst(t *testing.T) {
	t.Parallel()
	doc, err := ParseDocument([]byte(changeDoc))
	require.NoError(t, err)
	add := &Change{Kind: ChangeListAdded, List: "banned", IDs: []string{"a"}}
	require.NoError(t, add.CheckAgainst(doc))
	requireChangeError(t, add.CheckAgainst(nil), RejectNoPolicy, "no policy yet")
	other := &Change{Kind: ChangeListRemoved, List: "staff", IDs: []string{"a"}}
	requireChangeError(t, other.CheckAgainst(doc), RejectUnknownList, `list "staff" is not in the policy (lists: defined: banned)`)
	require.NoError(t, (&Change{Kind: ChangeReplaced, Document: doc}).CheckAgainst(nil))
}

func TestPolicySubjects(t *testing.T) {
	t.Parallel()
	require.Equal(t, "invitegate.policy.1400000000.list.added", PolicySubject("1400000000", ChangeListAdded))
	require.Equal(t, "invitegate.policy.a_b.replaced", PolicySubject("a.b", ChangeReplaced))
	require.Equal(t, "invitegate.policy.1400000000.>", PolicyAppSubjects("1400000000"))
	app, kind, ok := ParsePolicySubject("invitegate.policy.1400000000.list.removed")
	require.True(t, ok)
	require.Equal(t, "1400000000", app)
	require.Equal(t, ChangeListRemoved, kind)
	for _, bad := range []string{"invitegate.events.1.invite", "invitegate.policy.1", "invitegate.policy..x"} {
		_, _, ok := ParsePolicySubject(bad)
		require.False(t, ok, bad)
	}
}
