package decider

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckDuplicateKeys(t *testing.T) {
	t.Parallel()
	ok := []string{`{}`, `[]`, `{"a":1,"b":{"a":2}}`, `[{"a":1},{"a":1}]`, `{"a":"\"a\"","b":["a","a"]}`,
		`{"a\"":1,"a":2}`, `"{\"a\":1,\"a\":2}"`, `{"a":{"x":1},"b":{"x":1}}`}
	for _, s := range ok {
		require.NoError(t, checkDuplicateKeys([]byte(s)), s)
	}
	bad := map[string]string{
		`{"a":1,"a":2}`:                 `"a"`,
		`{"x":{"b":1,"c":[1],"b":2}}`:   `"b"`,
		`{"r\u0065ject":1,"reject":2}`:  `"reject"`,
		`[{"a":1},{"b":{"c":1,"c":1}}]`: `"c"`,
	}
	for s, want := range bad {
		err := checkDuplicateKeys([]byte(s))
		require.ErrorIs(t, err, errDuplicateKey, s)
		require.Contains(t, err.Error(), want)
	}
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	require.NoError(t, checkDuplicateKeys([]byte(deep)), "left to the decoder")
	_, err := ParseChange([]byte(deep))
	require.ErrorContains(t, err, "exceeded max depth")
	// A big object switches to a set.
	var sb strings.Builder
	sb.WriteString("{")
	for i := range 100 {
		sb.WriteString(`"k` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `":1,`)
	}
	sb.WriteString(`"kaa":2}`)
	require.ErrorIs(t, checkDuplicateKeys([]byte(sb.String())), errDuplicateKey)
}

// TestJSONIsReadAsJSON: what JSON allows is read as JSON means it, even
// what a YAML parser refuses (C1 controls, DEL, U+FFFF, "\/", surrogate
// pairs); what it does not allow is refused precisely.
func TestJSONIsReadAsJSON(t *testing.T) {
	t.Parallel()
	data := `{"kind":"replaced","author":"\ud83d\ude00","document":{"apiVersion":"invitegate\/v1","rules":[
{"name":"r","reject":"true","error_info":"can\u00e2\u0080\u0099t \u007f \uffff \u0092"}]}}`
	c, err := ParseChange([]byte(data))
	require.NoError(t, err)
	require.Equal(t, "\U0001F600", c.Author)
	require.Equal(t, "can\u00e2\u0080\u0099t \u007f \uffff \u0092", c.Document.Rules[0].ErrorInfo)
	require.NoError(t, c.Validate(), "it compiles and reads back the same")
	for _, bad := range []string{"{\"kind\":\"replaced\",\"author\":\"\xff\"}", `{"kind":"list.added","list":"a","ids":["x"]} x`} {
		_, err := ParseChange([]byte(bad))
		require.ErrorIs(t, err, ErrInvalidChange, bad)
	}
}

// TestPolicyFileBounds: aliases, oversized files, too many rules, long
// rule names and strings that would not read back are refused.
func TestPolicyFileBounds(t *testing.T) {
	t.Parallel()
	// 60,000 aliases of one 16 KiB string once cost gigabytes.
	var sb strings.Builder
	sb.WriteString("apiVersion: invitegate/v1\nlists:\n  a: &big [" + strings.Repeat("x", 16<<10) + "]\n")
	for i := range 60000 {
		sb.WriteString("  l" + strings.Repeat("y", i%3) + string(rune('a'+i%26)) + ": *big\n")
	}
	sb.WriteString("rules: []\n")
	_, err := ParseDocument([]byte(sb.String()))
	require.ErrorContains(t, err, "YAML aliases (*big) are not allowed")

	_, err = ParseDocument(make([]byte, MaxDocumentFileBytes+1))
	require.ErrorContains(t, err, "at most")

	doc := &Document{APIVersion: APIVersion}
	for range MaxRules + 1 {
		doc.Rules = append(doc.Rules, RuleSpec{Name: "r", Reject: "true"})
	}
	_, err = Compile(doc, 1)
	require.ErrorContains(t, err, "1001 rules (at most 1000)")

	long := &Document{APIVersion: APIVersion, Rules: []RuleSpec{{Name: strings.Repeat("a", 1<<20), Reject: "true"}}}
	_, err = Compile(long, 1)
	require.ErrorContains(t, err, "1048576 bytes (at most 64)")
	require.Less(t, len(err.Error()), 400, "the message does not repeat the name")

	notUTF8 := &Document{APIVersion: APIVersion, Rules: []RuleSpec{{Name: "r", Reject: "true", ErrorInfo: "\xff"}}}
	_, err = Compile(notUTF8, 1)
	require.ErrorContains(t, err, "does not read back the same")

	big := &Document{APIVersion: APIVersion, Lists: map[string][]string{"l": nil}, Rules: []RuleSpec{{Name: "r", Reject: "operator in lists.l"}}}
	for i := range 100000 {
		big.Lists["l"] = append(big.Lists["l"], strings.Repeat("u", 8)+string(rune('a'+i%26))+strings.Repeat("v", i%5))
	}
	_, err = Compile(big, 1)
	require.NoError(t, err)
	require.ErrorContains(t, CheckDocumentSize(big), "so that it fits one policy event")
	require.ErrorIs(t, (&Change{Kind: ChangeReplaced, Document: big}).Validate(), ErrInvalidChange)

	// A YAML file with "\u0092" passes and reads back the same as JSON.
	y, err := ParseDocument([]byte("apiVersion: invitegate/v1\nrules:\n  - name: r\n    reject: 'true'\n    error_info: \"\\u0092\"\n"))
	require.NoError(t, err)
	c := &Change{Kind: ChangeReplaced, Document: y}
	require.NoError(t, c.Validate())
	data, err := c.Marshal()
	require.NoError(t, err)
	back, err := ParseChange(data)
	require.NoError(t, err)
	require.Equal(t, y, back.Document)
}
