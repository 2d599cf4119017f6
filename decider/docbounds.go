package decider

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// checkBounds checks what bounds the work a document costs: the number of
// rules and the entries of its inline lists (held to CheckListID, like the
// ids of list events). It reports whether compiling may go on.
func checkBounds(doc *Document, problems *[]Problem) bool {
	if len(doc.Rules) > MaxRules {
		*problems = append(*problems, Problem{Index: -1, Field: "rules", Message: fmt.Sprintf("%d rules (at most %d)", len(doc.Rules), MaxRules)})
		return false
	}
	for _, name := range slices.Sorted(maps.Keys(doc.Lists)) {
		for i, id := range doc.Lists[name] {
			if err := CheckListID(id); err != nil {
				*problems = append(*problems, Problem{Index: -1, Field: "lists", Message: fmt.Sprintf("list %q: entry %d: %v", shorten(name), i, err)})
				break // one problem per list is enough
			}
		}
	}
	return true
}

// CheckDocumentSize refuses a document whose JSON does not fit one policy
// event (MaxDocumentBytes, under the NATS server's default max_payload):
// Change.Validate and `policy check` apply it.
func CheckDocumentSize(doc *Document) error {
	data, err := json.Marshal(doc)
	if err != nil {
		return invalid(Problem{Index: -1, Message: fmt.Sprintf("cannot be written as JSON: %v", err)})
	}
	if len(data) > MaxDocumentBytes {
		return invalid(Problem{Index: -1, Message: fmt.Sprintf(
			"%d bytes as JSON (at most %d, so that it fits one policy event)", len(data), MaxDocumentBytes)})
	}
	return nil
}

// checkRoundTrip refuses a document whose JSON does not read back the same
// (a string that is not UTF-8 comes back changed): what every replica
// reads must be what was checked.
func checkRoundTrip(doc *Document, problems *[]Problem) {
	data, err := json.Marshal(doc)
	if err != nil {
		*problems = append(*problems, Problem{Index: -1, Message: fmt.Sprintf("cannot be written as JSON: %v", err)})
		return
	}
	back, err := ParseDocumentJSON(data)
	if err != nil || !sameDocument(doc, back) {
		*problems = append(*problems, Problem{Index: -1, Message: "does not read back the same once written as JSON (a string that is not valid UTF-8?)"})
	}
}

// sameDocument reports whether a and b say the same (nil and empty lists
// are equal).
func sameDocument(a, b *Document) bool {
	if a.APIVersion != b.APIVersion || !slices.Equal(a.Rules, b.Rules) || len(a.Lists) != len(b.Lists) {
		return false
	}
	for name, entries := range a.Lists {
		other, ok := b.Lists[name]
		if !ok || !slices.Equal(entries, other) {
			return false
		}
	}
	return true
}

// shorten cuts s for an error message.
func shorten(s string) string {
	const most = 80
	if len(s) <= most {
		return s
	}
	return s[:most] + "..."
}
