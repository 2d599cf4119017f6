package decider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Everything invitegate stores as JSON (policy events, the documents they
// carry, snapshots, the projector's copy of the document in force) is read
// with encoding/json and held to the same rules: unknown fields, repeated
// keys and trailing data are errors. encoding/json alone keeps the last of
// two equal keys, so that "ids" could say one thing to one reader and
// another to the next; checkDuplicateKeys closes that.

// maxJSONDepth is encoding/json's own nesting limit.
const maxJSONDepth = 10000

// errDuplicateKey is wrapped by checkDuplicateKeys' errors.
var errDuplicateKey = errors.New("duplicate key")

// decodeStrict decodes the one JSON value of data into v: unknown fields,
// repeated keys and trailing data are errors.
func decodeStrict(data []byte, v any) error {
	if err := checkDuplicateKeys(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// checkDuplicateKeys returns an error naming the first key that appears
// twice in one object of data. It scans bytes without building values;
// data that is not valid JSON is left for the decoder to report.
func checkDuplicateKeys(data []byte) error {
	var stack []keyFrame
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{', '[':
			if len(stack) >= maxJSONDepth {
				return nil // encoding/json refuses it, without our stack
			}
			stack = append(stack, keyFrame{object: data[i] == '{', expectKey: data[i] == '{'})
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if n := len(stack); n > 0 && stack[n-1].object {
				stack[n-1].expectKey = true
			}
		case '"':
			end, escaped := stringEnd(data, i)
			if end < 0 {
				return nil // unterminated: the decoder says so
			}
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].expectKey {
				top := &stack[n-1]
				top.expectKey = false
				key := string(data[i+1 : end])
				if escaped {
					if err := json.Unmarshal(data[i:end+1], &key); err != nil {
						return nil
					}
				}
				if top.seen(key) {
					return fmt.Errorf("%w %q", errDuplicateKey, key)
				}
			}
			i = end
		}
	}
	return nil
}

// keyFrame is one open object or array of checkDuplicateKeys.
type keyFrame struct {
	object    bool
	expectKey bool
	keys      []string // the keys of a small object: a slice beats a map
	set       map[string]struct{}
}

// seen records key in the frame and reports whether it was there already.
func (f *keyFrame) seen(key string) bool {
	if f.set != nil {
		if _, ok := f.set[key]; ok {
			return true
		}
		f.set[key] = struct{}{}
		return false
	}
	for _, k := range f.keys {
		if k == key {
			return true
		}
	}
	f.keys = append(f.keys, key)
	if len(f.keys) > 16 {
		f.set = make(map[string]struct{}, 2*len(f.keys))
		for _, k := range f.keys {
			f.set[k] = struct{}{}
		}
		f.keys = nil
	}
	return false
}

// stringEnd returns the index of the quote closing the string that opens
// at data[start] (-1 when it is not closed) and whether it has escapes.
func stringEnd(data []byte, start int) (int, bool) {
	escaped := false
	for j := start + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j, escaped
		}
	}
	return -1, escaped
}
