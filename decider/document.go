package decider

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// APIVersion is the only apiVersion a policy Document may declare.
const APIVersion = "invitegate/v1"

// Rule kinds (RuleInfo.Kind, ShadowEffect.Kind) and modes (RuleSpec.Mode,
// RuleInfo.Mode).
const (
	KindReject       = "reject"
	KindRefuseMember = "refuse_member"

	ModeEnforce = "enforce" // the default: the rule's effect is applied
	ModeShadow  = "shadow"  // evaluated and recorded in Decision.Shadow, never applied
)

// Document is a policy as written by its author, in YAML or JSON. It
// round-trips: marshalling it with yaml or encoding/json gives a document
// that parses back to the same value, so it can be published and diffed
// (Compile refuses a document whose JSON does not read back the same).
type Document struct {
	APIVersion string              `yaml:"apiVersion" json:"apiVersion"`
	Lists      map[string][]string `yaml:"lists,omitempty" json:"lists,omitempty"`
	Rules      []RuleSpec          `yaml:"rules" json:"rules"`
}

// RuleSpec is one rule of a Document. Exactly one of Reject and
// RefuseMember holds a CEL expression of type bool.
type RuleSpec struct {
	Name         string `yaml:"name" json:"name"`
	Reject       string `yaml:"reject,omitempty" json:"reject,omitempty"`
	RefuseMember string `yaml:"refuse_member,omitempty" json:"refuse_member,omitempty"`
	ErrorCode    int    `yaml:"error_code,omitempty" json:"error_code,omitempty"` // reject only: 0 (= 1), 1 or 10100..10200
	ErrorInfo    string `yaml:"error_info,omitempty" json:"error_info,omitempty"` // reject only
	Mode         string `yaml:"mode,omitempty" json:"mode,omitempty"`             // "" (= enforce), enforce, shadow
}

// Kind returns KindReject or KindRefuseMember, whichever expression is set
// (KindReject when both or neither are; Compile rejects those documents).
func (r *RuleSpec) Kind() string {
	if r.Reject == "" && r.RefuseMember != "" {
		return KindRefuseMember
	}
	return KindReject
}

// Expr returns the rule's CEL expression (Reject or RefuseMember).
func (r *RuleSpec) Expr() string {
	if r.Kind() == KindRefuseMember {
		return r.RefuseMember
	}
	return r.Reject
}

// EffectiveMode returns ModeEnforce for an empty Mode, else Mode.
func (r *RuleSpec) EffectiveMode() string {
	if r.Mode == "" {
		return ModeEnforce
	}
	return r.Mode
}

// Bounds of a policy document. A document travels as one NATS message
// (the server's max_payload is 1 MiB by default), so its JSON must fit in
// MaxDocumentBytes; a policy file is refused past MaxDocumentFileBytes
// before it is parsed.
const (
	MaxDocumentBytes     = 960 << 10
	MaxDocumentFileBytes = 4 << 20
	MaxRules             = 1000
	MaxRuleNameBytes     = 64
)

// ParseDocument decodes a policy file: JSON when its first character is
// '{', else YAML. Unknown fields, duplicate keys, wrong types, trailing
// documents and YAML aliases (whose expansion could cost gigabytes) are
// errors; every failure is a *ValidationError. ParseDocument checks the
// shape only: Compile checks the meaning.
func ParseDocument(data []byte) (*Document, error) {
	if len(data) > MaxDocumentFileBytes {
		return nil, invalid(Problem{Index: -1, Message: fmt.Sprintf("document of %d bytes (at most %d)", len(data), MaxDocumentFileBytes)})
	}
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '{' {
		return ParseDocumentJSON(data)
	}
	return parseDocumentYAML(data)
}

// ParseDocumentJSON decodes a document stored as JSON (in an event, a
// snapshot, the projector's table) with encoding/json: unknown fields,
// duplicate keys and trailing data are errors, every failure a
// *ValidationError.
func ParseDocumentJSON(data []byte) (*Document, error) {
	var doc Document
	if err := decodeStrict(data, &doc); err != nil {
		return nil, invalid(Problem{Index: -1, Message: strings.TrimPrefix(err.Error(), "json: ")})
	}
	return &doc, nil
}

func parseDocumentYAML(data []byte) (*Document, error) {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, invalid(Problem{Index: -1, Message: "empty document"})
		}
		return nil, yamlProblems(err)
	}
	if a := findAlias(&root); a != nil {
		return nil, invalid(Problem{Index: -1, Message: fmt.Sprintf("line %d: YAML aliases (*%s) are not allowed: write the value out", a.Line, a.Value)})
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var doc Document
	if err := dec.Decode(&doc); err != nil {
		return nil, yamlProblems(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, invalid(Problem{Index: -1, Message: "more than one YAML document (remove the '---' separator)"})
	}
	return &doc, nil
}

// findAlias returns the first alias node under n, nil when there is none.
func findAlias(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		return n
	}
	for _, k := range n.Content {
		if a := findAlias(k); a != nil {
			return a
		}
	}
	return nil
}

var unknownFieldRE = regexp.MustCompile(`^line (\d+): field (.*) not found in type (\S+)$`)

// yamlProblems turns a yaml error into problems, one per line yaml reports,
// naming unknown fields plainly.
func yamlProblems(err error) *ValidationError {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return invalid(Problem{Index: -1, Message: strings.TrimPrefix(err.Error(), "yaml: ")})
	}
	ve := &ValidationError{}
	for _, msg := range te.Errors {
		if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
			where := "the document"
			if strings.HasSuffix(m[3], "RuleSpec") {
				where = "a rule"
			}
			msg = fmt.Sprintf("line %s: unknown field %q in %s", m[1], m[2], where)
		}
		ve.Problems = append(ve.Problems, Problem{Index: -1, Message: msg})
	}
	return ve
}
