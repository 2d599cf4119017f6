package decider

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestParseDocumentYAMLAndJSON(t *testing.T) {
	t.Parallel()
	want := &Document{
		APIVersion: APIVersion,
		Lists:      map[string][]string{"banned": {"spammer1", "12345"}},
		Rules: []RuleSpec{
			{Name: "banned-operator", Reject: "operator in lists.banned", ErrorCode: 10101, ErrorInfo: "no"},
			{Name: "banned-member", RefuseMember: "member in lists.banned", Mode: ModeShadow},
		},
	}
	yamlDoc := `
apiVersion: invitegate/v1
lists:
  banned: [spammer1, 12345]   # a number is read as the account id it spells
rules:
  - name: banned-operator
    reject: operator in lists.banned
    error_code: 10101
    error_info: "no"
  - name: banned-member
    refuse_member: member in lists.banned
    mode: shadow
`
	jsonDoc := `{"apiVersion":"invitegate/v1","lists":{"banned":["spammer1","12345"]},
"rules":[{"name":"banned-operator","reject":"operator in lists.banned","error_code":10101,"error_info":"no"},
{"name":"banned-member","refuse_member":"member in lists.banned","mode":"shadow"}]}`
	for name, src := range map[string]string{"yaml": yamlDoc, "json": jsonDoc} {
		got, err := ParseDocument([]byte(src))
		require.NoError(t, err, name)
		require.Equal(t, want, got, name)
	}
}

// A document round-trips through YAML and JSON: it can be published as an
// event and shown or diffed later.
func TestDocumentRoundTrip(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/example.yaml")
	require.NoError(t, err)
	doc, err := ParseDocument(data)
	require.NoError(t, err)

	y, err := yaml.Marshal(doc)
	require.NoError(t, err)
	fromYAML, err := ParseDocument(y)
	require.NoError(t, err)
	require.Equal(t, doc, fromYAML)

	j, err := json.Marshal(doc)
	require.NoError(t, err)
	require.NotContains(t, string(j), `"error_code":0`, "optional fields are omitted")
	fromJSON, err := ParseDocument(j)
	require.NoError(t, err)
	require.Equal(t, doc, fromJSON)
	var viaStdlib Document
	require.NoError(t, json.Unmarshal(j, &viaStdlib))
	require.Equal(t, doc, &viaStdlib)
}

func TestParseDocumentErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []string // the problems, in order
	}{
		{"empty", "", []string{"empty document"}},
		{"only a comment", "# nothing\n", []string{"empty document"}},
		{"unknown document field", "apiVersion: invitegate/v1\nrulez: []\n",
			[]string{`line 2: unknown field "rulez" in the document`}},
		{"unknown rule fields", "apiVersion: invitegate/v1\nrules:\n  - name: a\n    refuse_members: x\n    errorcode: 1\n",
			[]string{`line 4: unknown field "refuse_members" in a rule`, `line 5: unknown field "errorcode" in a rule`}},
		{"unknown field in JSON", `{"apiVersion":"invitegate/v1","rules":[{"name":"a","rejct":"true"}]}`,
			[]string{`unknown field "rejct"`}},
		{"duplicate key in JSON", `{"apiVersion":"invitegate/v1","rules":[],"rules":[]}`,
			[]string{`duplicate key "rules"`}},
		{"escaped duplicate key in JSON", `{"apiVersion":"invitegate/v1","rules":[{"name":"a","reject":"true","\u0072eject":"false"}]}`,
			[]string{`duplicate key "reject"`}},
		{"trailing JSON", `{"apiVersion":"invitegate/v1","rules":[]} {}`,
			[]string{"trailing data after the JSON value"}},
		{"YAML alias", "apiVersion: invitegate/v1\nlists:\n  a: &x [u1]\n  b: *x\nrules: []\n",
			[]string{"line 4: YAML aliases (*x) are not allowed: write the value out"}},
		{"wrong type", "apiVersion: invitegate/v1\nrules:\n  - name: a\n    error_code: high\n",
			[]string{"line 4: cannot unmarshal !!str `high` into int"}},
		{"rules not a list", "apiVersion: invitegate/v1\nrules: {name: a}\n",
			[]string{"line 2: cannot unmarshal !!map into []decider.RuleSpec"}},
		{"duplicate key", "apiVersion: invitegate/v1\napiVersion: invitegate/v1\n",
			[]string{`line 2: mapping key "apiVersion" already defined at line 1`}},
		{"syntax", "apiVersion: [\n", []string{"line 1: did not find expected node content"}},
		{"two documents", "apiVersion: invitegate/v1\n---\napiVersion: invitegate/v1\n",
			[]string{"more than one YAML document (remove the '---' separator)"}},
		{"not a mapping", "- a\n- b\n", []string{"line 1: cannot unmarshal !!seq into decider.Document"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := ParseDocument([]byte(tt.src))
			require.Nil(t, doc)
			require.ErrorIs(t, err, ErrInvalidPolicy)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tt.want, problemStrings(ve))
		})
	}
}

func problemStrings(ve *ValidationError) []string {
	out := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		out[i] = p.String()
	}
	return out
}
