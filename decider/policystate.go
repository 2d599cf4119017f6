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

// writeJSONString writes v as a JSON string; plain ids take the fast path.
func writeJSONString(w *bufio.Writer, v string) {
	if !strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == '"' || r == '\\' || r >= 0x7f }) {
		w.WriteByte('"')
		w.WriteString(v)
		w.WriteByte('"')
		return
	}
	b, _ := json.Marshal(v) // a string always encodes
	w.Write(b)
}

func badState(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadState, fmt.Sprintf(format, args...))
}

// stateReader decodes a WriteState object token by token.
type stateReader struct {
	dec      *json.Decoder
	revision uint64
	position uint64
	doc      *Document
	lists    map[string]*shardedSet
	gen      uint64
}

// ReadState reads what WriteState wrote and returns the snapshot and the
// position it covers. The document is compiled again (CEL programs are not
// serialised); lists are read into sets without an intermediate slice.
func ReadState(r io.Reader) (*Snapshot, uint64, error) {
	sr := &stateReader{dec: json.NewDecoder(bufio.NewReaderSize(r, 64<<10)), lists: map[string]*shardedSet{}, gen: newGen()}
	if err := sr.read(); err != nil {
		return nil, 0, err
	}
	if sr.doc == nil {
		return nil, 0, badState("no document")
	}
	placeholders := &Document{APIVersion: sr.doc.APIVersion, Rules: sr.doc.Rules, Lists: map[string][]string{}}
	for name := range sr.doc.Lists {
		if _, ok := sr.lists[name]; !ok {
			return nil, 0, badState("list %q of the document has no entries in the state", name)
		}
		placeholders.Lists[name] = nil
	}
	for name := range sr.lists {
		if _, ok := sr.doc.Lists[name]; !ok {
			return nil, 0, badState("list %q is not in the document", name)
		}
	}
	compiled, err := Compile(placeholders, sr.revision)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrBadState, err)
	}
	sets := make(map[string]*stringSet, len(sr.lists))
	subst := map[*stringSet]*stringSet{}
	for name, sh := range sr.lists {
		sets[name] = sh.frozen()
		subst[compiled.sets[name]] = sets[name]
	}
	return compiled.derive(sr.revision, sr.doc, sets, subst), max(sr.position, sr.revision), nil
}

func (sr *stateReader) read() error {
	if err := sr.delim('{'); err != nil {
		return err
	}
	for sr.dec.More() {
		key, err := sr.dec.Token()
		if err != nil {
			return badState("%v", err)
		}
		if err := sr.field(key); err != nil {
			return err
		}
	}
	return sr.delim('}')
}

func (sr *stateReader) field(key json.Token) error {
	var err error
	switch key {
	case "format":
		var f string
		if err = sr.dec.Decode(&f); err == nil && f != StateFormat {
			return badState("format %q, want %q", f, StateFormat)
		}
	case "revision":
		err = sr.dec.Decode(&sr.revision)
	case "position":
		err = sr.dec.Decode(&sr.position)
	case "document":
		var raw json.RawMessage
		if err = sr.dec.Decode(&raw); err == nil {
			if sr.doc, err = ParseDocument(raw); err != nil {
				return fmt.Errorf("%w: document: %w", ErrBadState, err)
			}
		}
	case "lists":
		return sr.readLists()
	default:
		return badState("unknown field %v", key)
	}
	if err != nil {
		return badState("%v: %v", key, err)
	}
	return nil
}

func (sr *stateReader) readLists() error {
	if err := sr.delim('{'); err != nil {
		return err
	}
	for sr.dec.More() {
		tok, err := sr.dec.Token()
		if err != nil {
			return badState("lists: %v", err)
		}
		name, _ := tok.(string)
		if err := sr.delim('['); err != nil {
			return err
		}
		set := &shardedSet{shards: []*shard{{m: map[string]struct{}{}, owner: sr.gen}}, owner: sr.gen}
		chunk := make([]string, 0, 4096)
		for sr.dec.More() {
			tok, err := sr.dec.Token()
			id, ok := tok.(string)
			if err != nil || !ok {
				return badState("list %q: want strings (%v)", name, err)
			}
			if chunk = append(chunk, id); len(chunk) == cap(chunk) {
				set, chunk = set.add(chunk, sr.gen), chunk[:0]
			}
		}
		sr.lists[name] = set.add(chunk, sr.gen)
		if err := sr.delim(']'); err != nil {
			return err
		}
	}
	return sr.delim('}')
}

func (sr *stateReader) delim(want json.Delim) error {
	tok, err := sr.dec.Token()
	if err != nil {
		return badState("want %q: %v", want, err)
	}
	if tok != want {
		return badState("want %q, got %v", want, tok)
	}
	return nil
}
