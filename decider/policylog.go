package decider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The policy log: every change to an app's policy is an event on the
// JetStream stream PolicyStream, subject invitegate.policy.<app>.<kind>, kept
// for ever (it is the audit log). A Snapshot is the fold of the log (see
// Fold); its revision is the stream sequence of the last event applied.
const (
	PolicyStream        = "INVITEGATE_POLICY"
	PolicySubjectPrefix = "invitegate.policy."
	PolicySubjects      = "invitegate.policy.>"
)

// Kinds of policy change; each is also the end of the event's subject.
const (
	ChangeReplaced    = "replaced"     // a whole policy document
	ChangeListAdded   = "list.added"   // ids added to a named list
	ChangeListRemoved = "list.removed" // ids removed from a named list
)

// ChangeKinds lists every kind of policy change.
var ChangeKinds = []string{ChangeReplaced, ChangeListAdded, ChangeListRemoved}

// MaxListIDBytes bounds one list entry (an IM UserID is at most 45 bytes).
const MaxListIDBytes = 256

// PolicySubject returns invitegate.policy.<app>.<kind>; the app token is
// sanitised like EventSubject's.
func PolicySubject(app, kind string) string {
	return PolicySubjectPrefix + subjectToken(app) + "." + kind
}

// PolicyAppSubjects returns invitegate.policy.<app>.>: every change of app.
func PolicyAppSubjects(app string) string {
	return PolicySubjectPrefix + subjectToken(app) + ".>"
}

// ParsePolicySubject returns the app token and the kind of a policy
// subject; ok is false when subject is not one.
func ParsePolicySubject(subject string) (app, kind string, ok bool) {
	rest, ok := strings.CutPrefix(subject, PolicySubjectPrefix)
	if !ok {
		return "", "", false
	}
	app, kind, ok = strings.Cut(rest, ".")
	return app, kind, ok && app != "" && kind != ""
}

// Change is one event of the policy log. Its JSON form is the contract with
// every publisher (README "Policy log"):
//
//	{"kind":"replaced","author":"alice","time":"2026-01-02T15:04:05Z","reason":"...","document":{...}}
//	{"kind":"list.added","author":"mod-bot","list":"banned","ids":["u1","u2"]}
//	{"kind":"list.removed","list":"banned","ids":["u2"]}
//
// author, time and reason are optional; a rollback is a "replaced" event
// with "rollback_of": the revision whose document it restores.
type Change struct {
	Kind       string    `json:"kind"`
	Author     string    `json:"author,omitempty"`
	Time       time.Time `json:"time,omitzero"`
	Reason     string    `json:"reason,omitempty"`
	RollbackOf uint64    `json:"rollback_of,omitempty"` // replaced only
	Document   *Document `json:"document,omitempty"`    // replaced only
	List       string    `json:"list,omitempty"`        // list.* only
	IDs        []string  `json:"ids,omitempty"`         // list.* only
}

// Reasons of a ChangeError (the reason label of the rejection metric).
const (
	RejectMalformed     = "malformed"      // not a valid event: JSON, kind, fields, ids
	RejectInvalidPolicy = "invalid_policy" // a replaced document that does not compile
	RejectUnknownList   = "unknown_list"   // a list event naming a list the policy lacks
	RejectNoPolicy      = "no_policy"      // a list event before any replaced event
)

// ErrInvalidChange is matched (errors.Is) by every *ChangeError.
var ErrInvalidChange = errors.New("invalid policy change")

// ChangeError says why a change is not applied. Err is a *ValidationError
// for RejectInvalidPolicy.
type ChangeError struct {
	Reason string
	Err    error
}

func (e *ChangeError) Error() string {
	return fmt.Sprintf("%s (%s): %v", ErrInvalidChange, e.Reason, e.Err)
}

// Is makes errors.Is(err, ErrInvalidChange) true.
func (e *ChangeError) Is(target error) bool { return target == ErrInvalidChange }
func (e *ChangeError) Unwrap() error        { return e.Err }

func malformed(format string, args ...any) *ChangeError {
	return &ChangeError{Reason: RejectMalformed, Err: fmt.Errorf(format, args...)}
}

// wireChange is Change as decoded: the document is kept raw so that it is
// parsed by ParseDocumentJSON with its strictness and messages.
type wireChange struct {
	Kind       string          `json:"kind"`
	Author     string          `json:"author"`
	Time       time.Time       `json:"time"`
	Reason     string          `json:"reason"`
	RollbackOf uint64          `json:"rollback_of"`
	Document   json.RawMessage `json:"document"`
	List       string          `json:"list"`
	IDs        []string        `json:"ids"`
}

// ParseChange decodes one policy event and checks its shape: known kind, the
// fields of that kind, no unknown fields, valid ids, a document that parses.
// Whether the document compiles is left to Validate and Fold.Apply (which
// compiles it anyway). Every error is a *ChangeError.
func ParseChange(data []byte) (*Change, error) {
	if !utf8.Valid(data) {
		return nil, malformed("decode: not UTF-8")
	}
	var w wireChange
	if err := decodeStrict(data, &w); err != nil {
		return nil, malformed("decode: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	c := &Change{Kind: w.Kind, Author: w.Author, Time: w.Time, Reason: w.Reason,
		RollbackOf: w.RollbackOf, List: w.List, IDs: w.IDs}
	if len(w.Document) > 0 && !bytes.Equal(w.Document, []byte("null")) {
		doc, err := ParseDocumentJSON(w.Document)
		if err != nil {
			return nil, &ChangeError{Reason: RejectInvalidPolicy, Err: err}
		}
		c.Document = doc
	}
	if err := c.checkShape(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks everything about c that does not depend on the policy in
// force: its shape (see ParseChange) and that a replaced document compiles.
// Every error is a *ChangeError.
func (c *Change) Validate() error {
	if err := c.checkShape(); err != nil {
		return err
	}
	if c.Kind == ChangeReplaced {
		if _, err := Compile(c.Document, 0); err != nil {
			return &ChangeError{Reason: RejectInvalidPolicy, Err: err}
		}
		if err := CheckDocumentSize(c.Document); err != nil {
			return &ChangeError{Reason: RejectInvalidPolicy, Err: err}
		}
	}
	return nil
}

func (c *Change) checkShape() error {
	switch c.Kind {
	case ChangeReplaced:
		if c.List != "" || c.IDs != nil {
			return malformed("a replaced event has no list or ids")
		}
		if c.Document == nil {
			return malformed("a replaced event needs a document")
		}
		return nil
	case ChangeListAdded, ChangeListRemoved:
		if c.Document != nil || c.RollbackOf != 0 {
			return malformed("a %s event has no document or rollback_of", c.Kind)
		}
		if !listNameRE.MatchString(c.List) {
			return malformed("list %q: want a list name ([A-Za-z_][A-Za-z0-9_]*)", c.List)
		}
		if len(c.IDs) == 0 {
			return malformed("a %s event needs at least one id", c.Kind)
		}
		for i, id := range c.IDs {
			if err := CheckListID(id); err != nil {
				return malformed("ids[%d]: %v", i, err)
			}
		}
		return nil
	case "":
		return malformed("kind is required (want one of %s)", strings.Join(ChangeKinds, ", "))
	}
	return malformed("unknown kind %q (want one of %s)", c.Kind, strings.Join(ChangeKinds, ", "))
}

// CheckListID checks one list entry: 1 to MaxListIDBytes bytes of UTF-8
// without control characters or surrounding spaces (so a list can be
// written one id per line).
func CheckListID(id string) error {
	if len(id) > 0 && len(id) <= MaxListIDBytes && id[0] != ' ' && id[len(id)-1] != ' ' && plainASCII(id) {
		return nil // the common case, without decoding runes
	}
	switch {
	case id == "":
		return errors.New("empty id")
	case len(id) > MaxListIDBytes:
		return fmt.Errorf("id of %d bytes (at most %d)", len(id), MaxListIDBytes)
	case !utf8.ValidString(id):
		return fmt.Errorf("id %q is not UTF-8", id)
	case strings.TrimSpace(id) != id:
		return fmt.Errorf("id %q has surrounding spaces", id)
	case strings.ContainsFunc(id, unicode.IsControl):
		return fmt.Errorf("id %q has a control character", id)
	}
	return nil
}

// checkList checks a list event against the current policy document (nil
// before the first replaced event).
func (c *Change) checkList(doc *Document) error {
	if doc == nil {
		return &ChangeError{Reason: RejectNoPolicy, Err: fmt.Errorf("list %q: no policy yet (publish a replaced event first)", c.List)}
	}
	if _, ok := doc.Lists[c.List]; !ok {
		return &ChangeError{Reason: RejectUnknownList, Err: fmt.Errorf("list %q is not in the policy (lists: %s)", c.List, definedListNames(doc))}
	}
	return nil
}

// CheckAgainst checks c, already valid on its own (ParseChange or
// Validate), against the policy document in force (nil when none): a list
// event must name one of its lists. A Fold applies exactly the changes
// that pass both checks.
func (c *Change) CheckAgainst(doc *Document) error {
	if c.Kind == ChangeReplaced {
		return nil
	}
	return c.checkList(doc)
}

func definedListNames(doc *Document) string {
	return definedLists(slices.Sorted(maps.Keys(doc.Lists)))
}

// Marshal returns the JSON of c, as published.
func (c *Change) Marshal() ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode policy change: %w", err)
	}
	return b, nil
}
