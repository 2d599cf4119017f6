package decider

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
)

// StateFormat names the serialised form of a policy state (WriteState).
const StateFormat = "invitegate-policy-state/v1"

// ErrBadState is wrapped by every ReadState error about the data itself.
var ErrBadState = errors.New("bad policy state")

// ListNames returns the names of the snapshot's lists, sorted.
func (s *Snapshot) ListNames() []string { return slices.Sorted(maps.Keys(s.sets)) }

// ListEntries returns the entries of the named list, sorted; nil when the
// snapshot has no such list. Unlike Document().Lists it includes what
// list events added and excludes what they removed.
func (s *Snapshot) ListEntries(name string) []string {
	set, ok := s.sets[name]
	if !ok {
		return nil
	}
	out := make([]string, 0, set.len())
	set.each(func(v string) bool { out = append(out, v); return true })
	slices.Sort(out)
	return out
}

// ListHas reports whether the named list holds id.
func (s *Snapshot) ListHas(name, id string) bool {
	set, ok := s.sets[name]
	return ok && set.has(id)
}

// WriteState writes the state of s, covering the log up to position, as one
// JSON object (a compacted snapshot, a replica's last good snapshot):
//
//	{"format":"invitegate-policy-state/v1","revision":42,"position":45,
//	 "document":{...authored document...},"lists":{"banned":["u1","u2",...]}}
//
// Lists are streamed: a 1,000,000-entry list is never held as one []byte.
func WriteState(w io.Writer, s *Snapshot, position uint64) error {
	doc, err := json.Marshal(s.doc)
	if err != nil {
		return fmt.Errorf("encode policy document: %w", err)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, `{"format":%q,"revision":%d,"position":%d,"document":%s,"lists":{`,
		StateFormat, s.revision, max(position, s.revision), doc)
	for i, name := range s.ListNames() {
		if i > 0 {
			bw.WriteByte(',')
		}
		writeJSONString(bw, name)
		bw.WriteString(":[")
		first := true
		s.sets[name].each(func(v string) bool {
			if !first {
				bw.WriteByte(',')
			}
			first = false
			writeJSONString(bw, v)
			return true
		})
		bw.WriteByte(']')
	}
	bw.WriteString("}}\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write policy state: %w", err)
	}
	return nil
}

// writeJSONString writes v as a JSON string; plain ASCII ids take the
// fast path.
func writeJSONString(w *bufio.Writer, v string) {
	if !plainASCII(v) {
		b, _ := json.Marshal(v) // a string always encodes
		w.Write(b)
		return
	}
	w.WriteByte('"')
	w.WriteString(v)
	w.WriteByte('"')
}

// plainASCII reports whether v is printable ASCII without '"' or '\\'.
func plainASCII(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func badState(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadState, fmt.Sprintf(format, args...))
}

// stateFile is the decoded form of a WriteState object.
type stateFile struct {
	Format   string              `json:"format"`
	Revision uint64              `json:"revision"`
	Position uint64              `json:"position"`
	Document json.RawMessage     `json:"document"`
	Lists    map[string][]string `json:"lists"`
}

// ReadState reads what WriteState wrote and returns the snapshot and the
// position it covers. The document is compiled again (CEL programs are not
// serialised).
func ReadState(r io.Reader) (*Snapshot, uint64, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	dec.DisallowUnknownFields()
	var st stateFile
	if err := dec.Decode(&st); err != nil {
		return nil, 0, badState("%v", err)
	}
	if st.Format != StateFormat {
		return nil, 0, badState("format %q, want %q", st.Format, StateFormat)
	}
	if len(st.Document) == 0 {
		return nil, 0, badState("no document")
	}
	doc, err := ParseDocument(st.Document)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: document: %w", ErrBadState, err)
	}
	placeholders := &Document{APIVersion: doc.APIVersion, Rules: doc.Rules, Lists: map[string][]string{}}
	for name := range doc.Lists {
		if _, ok := st.Lists[name]; !ok {
			return nil, 0, badState("list %q of the document has no entries in the state", name)
		}
		placeholders.Lists[name] = nil
	}
	for name := range st.Lists {
		if _, ok := doc.Lists[name]; !ok {
			return nil, 0, badState("list %q is not in the document", name)
		}
	}
	compiled, err := Compile(placeholders, st.Revision)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrBadState, err)
	}
	gen := newGen() // owned by nobody once this returns
	sets := make(map[string]*stringSet, len(st.Lists))
	subst := map[*stringSet]*stringSet{}
	for name, entries := range st.Lists {
		sets[name] = newShardedSet(len(entries), slices.Values(entries), gen).frozen()
		st.Lists[name] = nil // let the slice go while the next list is built
		subst[compiled.sets[name]] = sets[name]
	}
	return compiled.derive(st.Revision, doc, sets, subst), max(st.Position, st.Revision), nil
}
