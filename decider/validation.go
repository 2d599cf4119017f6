package decider

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidPolicy is matched (errors.Is) by every *ValidationError.
var ErrInvalidPolicy = errors.New("invalid policy")

// Problem is one thing wrong with a policy document.
type Problem struct {
	Index   int    // rule index in Document.Rules; -1 for the document itself
	Rule    string // rule name ("" when the rule has none or Index is -1)
	Field   string // "apiVersion", "lists", "name", "reject", "refuse_member", ...; "" when unknown
	Message string
}

// String reads like
//
//	rule "banned-member" (rules[1]): refuse_member: undefined list "bannd" (defined: banned, staff)
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.Index >= 0 && p.Rule != "":
		fmt.Fprintf(&b, "rule %q (rules[%d]): ", p.Rule, p.Index)
	case p.Index >= 0:
		fmt.Fprintf(&b, "rules[%d]: ", p.Index)
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError lists every problem found in a policy. Parsing and
// compiling are all-or-nothing: a policy with any problem is not loaded.
type ValidationError struct {
	Problems []Problem
}

// Error reads "invalid policy: <problem>" for one problem, else
// "invalid policy (N problems): <p1>; <p2>; ...". Print Problems one per
// line for people.
func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid policy: " + e.Problems[0].String()
	}
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return fmt.Sprintf("invalid policy (%d problems): %s", len(e.Problems), strings.Join(parts, "; "))
}

// Is makes errors.Is(err, ErrInvalidPolicy) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidPolicy }

func invalid(p Problem) *ValidationError { return &ValidationError{Problems: []Problem{p}} }

// ruleProblems collects the problems of one rule.
type ruleProblems struct {
	index int
	name  string
	out   *[]Problem
}

func (r ruleProblems) add(field, format string, args ...any) {
	*r.out = append(*r.out, Problem{Index: r.index, Rule: r.name, Field: field, Message: fmt.Sprintf(format, args...)})
}
