package decider

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
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
	return WriteStateMeta(w, s, StateMeta{Position: position})
}

// StateMeta is what a state says besides the snapshot: the log position it
// covers and, for a replica's own snapshot, the fingerprint of the trust it
// was folded under (see policystore.Trust).
type StateMeta struct {
	Position uint64
	Trust    string
}

// WriteStateMeta is WriteState with a trust fingerprint (written when not
// empty).
func WriteStateMeta(w io.Writer, s *Snapshot, meta StateMeta) error {
	position := meta.Position
	doc, err := json.Marshal(s.doc)
	if err != nil {
		return fmt.Errorf("encode policy document: %w", err)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, `{"format":%q,"revision":%d,"position":%d,`, StateFormat, s.revision, max(position, s.revision))
	if meta.Trust != "" {
		bw.WriteString(`"trust":`)
		writeJSONString(bw, meta.Trust)
		bw.WriteByte(',')
	}
	fmt.Fprintf(bw, `"document":%s,"lists":{`, doc)
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
	Format   string
	Revision uint64
	Position uint64
	Trust    string
	Document json.RawMessage
	Lists    map[string][]string
}

// ReadState reads what WriteState wrote and returns the snapshot and the
// position it covers. The document is compiled again (CEL programs are not
// serialised).
func ReadState(r io.Reader) (*Snapshot, uint64, error) {
	s, meta, err := ReadStateMeta(r)
	return s, meta.Position, err
}

// ReadStateMeta is ReadState returning everything the state says besides
// the snapshot.
func ReadStateMeta(r io.Reader) (*Snapshot, StateMeta, error) {
	st, err := decodeState(json.NewDecoder(bufio.NewReaderSize(r, 64<<10)))
	if err != nil {
		return nil, StateMeta{}, badState("%v", strings.TrimPrefix(err.Error(), "json: "))
	}
	if st.Format != StateFormat {
		return nil, StateMeta{}, badState("format %q, want %q", st.Format, StateFormat)
	}
	if len(st.Document) == 0 {
		return nil, StateMeta{}, badState("no document")
	}
	doc, err := ParseDocumentJSON(st.Document)
	if err != nil {
		return nil, StateMeta{}, fmt.Errorf("%w: document: %w", ErrBadState, err)
	}
	s, err := st.snapshot(doc)
	if err != nil {
		return nil, StateMeta{}, err
	}
	return s, StateMeta{Position: max(st.Position, st.Revision), Trust: st.Trust}, nil
}

// decodeState decodes one state object, key by key: unknown and repeated
// keys are errors, and each list is decoded straight into its slice.
func decodeState(dec *json.Decoder) (*stateFile, error) {
	st := &stateFile{}
	seen := map[string]bool{}
	err := decodeObject(dec, func(key string) error {
		if err := st.decodeField(dec, key, seen); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the state")
	}
	return st, nil
}

// decodeField decodes the value of key.
func (st *stateFile) decodeField(dec *json.Decoder, key string, seen map[string]bool) error {
	if seen[key] {
		return fmt.Errorf("%w %q", errDuplicateKey, key)
	}
	seen[key] = true
	switch key {
	case "format":
		return dec.Decode(&st.Format)
	case "revision":
		return dec.Decode(&st.Revision)
	case "position":
		return dec.Decode(&st.Position)
	case "trust":
		return dec.Decode(&st.Trust)
	case "document":
		return dec.Decode(&st.Document)
	case "lists":
		st.Lists = map[string][]string{}
		return decodeObject(dec, func(name string) error {
			if _, ok := st.Lists[name]; ok {
				return fmt.Errorf("%w: list %q", errDuplicateKey, name)
			}
			var entries []string
			if err := dec.Decode(&entries); err != nil {
				return err
			}
			st.Lists[name] = entries
			return nil
		})
	}
	return fmt.Errorf("unknown field %q", key)
}

// decodeObject reads one JSON object from dec, calling value for each key
// to decode the value that follows it.
func decodeObject(dec *json.Decoder, value func(key string) error) error {
	if tok, err := dec.Token(); err != nil {
		return err
	} else if tok != json.Delim('{') {
		return fmt.Errorf("want an object, got %v", tok)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if err := value(key); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		if errors.Is(err, io.EOF) {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// snapshot builds the snapshot the state describes, doc its document.
func (st *stateFile) snapshot(doc *Document) (*Snapshot, error) {
	placeholders := &Document{APIVersion: doc.APIVersion, Rules: doc.Rules, Lists: map[string][]string{}}
	for name := range doc.Lists {
		if _, ok := st.Lists[name]; !ok {
			return nil, badState("list %q of the document has no entries in the state", name)
		}
		placeholders.Lists[name] = nil
	}
	for name := range st.Lists {
		if _, ok := doc.Lists[name]; !ok {
			return nil, badState("list %q is not in the document", name)
		}
	}
	compiled, err := Compile(placeholders, st.Revision)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadState, err)
	}
	gen := newGen() // owned by nobody once this returns
	sets := make(map[string]*stringSet, len(st.Lists))
	subst := map[*stringSet]*stringSet{}
	for name, entries := range st.Lists {
		sets[name] = newShardedSet(len(entries), slices.Values(entries), gen).frozen()
		st.Lists[name] = nil // let the slice go while the next list is built
		subst[compiled.sets[name]] = sets[name]
	}
	return compiled.derive(st.Revision, doc, sets, subst), nil
}
