package replay

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unsafe"
)

// The binary COPY stream: a signature, flags and a header extension, then
// per row a 16-bit field count and per field a 32-bit length (-1: NULL)
// and the value in PostgreSQL's binary form, then a count of -1.

const copySignature = "PGCOPY\n\377\r\n\000"

// batch is a run of rows cut from the stream. Strings of a row point into
// data: a worker copies what it keeps beyond the batch (samples, counter
// keys), then gives the batch back to be refilled.
type batch struct {
	data []byte
	rows []int // offset of each row (at its first field) in data
}

// rowSplitter is the io.Writer the COPY is written into: it cuts the
// stream into rows and sends them in batches of rowsPerBatch, blocking
// while the workers are behind (so memory stays bounded).
type rowSplitter struct {
	ctx          context.Context
	out          chan<- *batch
	free         chan *batch // batches the workers are done with
	fields       int
	rowsPerBatch int
	pending      []byte
	headerDone   bool
	ended        bool
	cur          *batch
	rows         int64
	progress     func(int64)
}

var errCopyFormat = errors.New("replay: malformed COPY data")

func (s *rowSplitter) Write(p []byte) (int, error) {
	s.pending = append(s.pending, p...)
	i := 0
	if !s.headerDone {
		if len(s.pending) < len(copySignature)+8 {
			return len(p), nil
		}
		if string(s.pending[:len(copySignature)]) != copySignature {
			return 0, fmt.Errorf("%w: no binary COPY signature", errCopyFormat)
		}
		ext := int(binary.BigEndian.Uint32(s.pending[len(copySignature)+4:]))
		if len(s.pending) < len(copySignature)+8+ext {
			return len(p), nil
		}
		i = len(copySignature) + 8 + ext
		s.headerDone = true
	}
	for !s.ended {
		end, ok, err := s.tupleEnd(i)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		if end < 0 {
			s.ended = true
			i += 2
			break
		}
		if s.cur == nil {
			s.cur = s.newBatch()
		}
		s.cur.rows = append(s.cur.rows, len(s.cur.data))
		s.cur.data = append(s.cur.data, s.pending[i+2:end]...)
		i = end
		if len(s.cur.rows) == s.rowsPerBatch {
			if err := s.flush(); err != nil {
				return 0, err
			}
		}
	}
	s.pending = s.pending[:copy(s.pending, s.pending[i:])]
	return len(p), nil
}

// newBatch returns an empty batch, a recycled one when there is one.
func (s *rowSplitter) newBatch() *batch {
	select {
	case b := <-s.free:
		b.data, b.rows = b.data[:0], b.rows[:0]
		return b
	default:
		return &batch{data: make([]byte, 0, 256*s.rowsPerBatch), rows: make([]int, 0, s.rowsPerBatch)}
	}
}

// tupleEnd returns the end of the tuple at i, -1 for the trailer, or
// ok false when the tuple is not complete yet.
func (s *rowSplitter) tupleEnd(i int) (end int, ok bool, err error) {
	b := s.pending
	if len(b) < i+2 {
		return 0, false, nil
	}
	n := int(int16(binary.BigEndian.Uint16(b[i:])))
	if n == -1 {
		return -1, true, nil
	}
	if n != s.fields {
		return 0, false, fmt.Errorf("%w: %d fields in a row, want %d", errCopyFormat, n, s.fields)
	}
	j := i + 2
	for range n {
		if len(b) < j+4 {
			return 0, false, nil
		}
		l := int(int32(binary.BigEndian.Uint32(b[j:])))
		j += 4
		if l > 0 {
			j += l
		}
	}
	if len(b) < j {
		return 0, false, nil
	}
	return j, true, nil
}

func (s *rowSplitter) flush() error {
	if s.cur == nil || len(s.cur.rows) == 0 {
		return nil
	}
	select {
	case s.out <- s.cur:
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
	s.rows += int64(len(s.cur.rows))
	if s.progress != nil {
		s.progress(s.rows)
	}
	s.cur = nil
	return nil
}

// fieldReader reads the fields of one row.
type fieldReader struct {
	b []byte
	i int
}

// next returns the next field's bytes, or nil and false for NULL.
func (r *fieldReader) next() ([]byte, bool) {
	l := int(int32(binary.BigEndian.Uint32(r.b[r.i:])))
	r.i += 4
	if l < 0 {
		return nil, false
	}
	v := r.b[r.i : r.i+l]
	r.i += l
	return v, true
}

// str returns the next field as a string sharing the batch's bytes.
func (r *fieldReader) str() string {
	v, _ := r.next()
	return bytesString(v)
}

func bytesString(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	return unsafe.String(&v[0], len(v))
}

// pgEpochMicros is 2000-01-01 UTC, timestamptz's epoch, in Unix microseconds.
const pgEpochMicros = 946_684_800 * 1_000_000

// time returns the next timestamptz field (zero for NULL).
func (r *fieldReader) time() time.Time {
	v, ok := r.next()
	if !ok || len(v) != 8 {
		return time.Time{}
	}
	return time.UnixMicro(int64(binary.BigEndian.Uint64(v)) + pgEpochMicros).UTC()
}

func (r *fieldReader) int8() int64 {
	v, ok := r.next()
	if !ok || len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// strs appends the elements of the next text[] field to dst[:0]; ok is
// false for NULL.
func (r *fieldReader) strs(dst []string) ([]string, bool, error) {
	v, ok := r.next()
	if !ok {
		return dst[:0], false, nil
	}
	dst = dst[:0]
	if len(v) < 12 {
		return dst, true, fmt.Errorf("%w: short array", errCopyFormat)
	}
	ndim := binary.BigEndian.Uint32(v)
	if ndim == 0 {
		return dst, true, nil
	}
	if ndim != 1 || len(v) < 20 {
		return dst, true, fmt.Errorf("%w: array of %d dimensions", errCopyFormat, ndim)
	}
	n := int(binary.BigEndian.Uint32(v[12:]))
	j := 20
	for range n {
		if len(v) < j+4 {
			return dst, true, fmt.Errorf("%w: short array", errCopyFormat)
		}
		l := int(int32(binary.BigEndian.Uint32(v[j:])))
		j += 4
		if l < 0 {
			dst = append(dst, "")
			continue
		}
		if len(v) < j+l {
			return dst, true, fmt.Errorf("%w: short array", errCopyFormat)
		}
		dst = append(dst, bytesString(v[j:j+l]))
		j += l
	}
	return dst, true, nil
}

// jsonb returns the JSON text of the next jsonb field, nil for NULL.
func (r *fieldReader) jsonb() []byte {
	v, ok := r.next()
	if !ok || len(v) < 1 {
		return nil
	}
	return v[1:] // after the format version byte
}
