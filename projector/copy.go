package projector

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// copyData builds the data of a COPY ... FROM STDIN (FORMAT binary): a
// header, then per row its field count and each field as a length and
// PostgreSQL's binary form, then a trailer. It is written by hand because
// pgx's CopyFrom encodes every value through its type map (a plan lookup,
// often a reflection and an allocation per value), which cost the
// projector more CPU than PostgreSQL spent storing the rows.
type copyData struct{ b []byte }

// copyHeader is the binary COPY signature, flags 0 and no header extension.
const copyHeader = "PGCOPY\n\377\r\n\000\000\000\000\000\000\000\000\000"

// microsY2K is the Unix time of 2000-01-01 UTC, the epoch of timestamptz,
// in microseconds.
const microsY2K = 946_684_800 * 1_000_000

func newCopyData(rows, rowBytes int) *copyData {
	c := &copyData{b: make([]byte, 0, len(copyHeader)+rows*rowBytes+2)}
	c.b = append(c.b, copyHeader...)
	return c
}

func (c *copyData) row(fields int) { c.b = binary.BigEndian.AppendUint16(c.b, uint16(fields)) }

func (c *copyData) null() { c.b = binary.BigEndian.AppendUint32(c.b, 0xffffffff) }

func (c *copyData) size(n int) { c.b = binary.BigEndian.AppendUint32(c.b, uint32(n)) }

// text writes each of ss as a field; PostgreSQL checks that it is valid
// UTF-8 without NUL.
func (c *copyData) text(ss ...string) {
	for _, s := range ss {
		c.size(len(s))
		c.b = append(c.b, s...)
	}
}

// textOrNull writes *s, or NULL for nil.
func (c *copyData) textOrNull(s *string) {
	if s == nil {
		c.null()
		return
	}
	c.text(*s)
}

// jsonb writes v as JSON, or NULL when n, its length, is 0.
func (c *copyData) jsonb(n int, v any) {
	if n == 0 {
		c.null()
		return
	}
	j, err := json.Marshal(v)
	if err != nil { // slices of strings and plain structs always encode
		panic(err)
	}
	c.size(1 + len(j))
	c.b = append(c.b, 1) // jsonb's binary format version
	c.b = append(c.b, j...)
}

// textOID is the type oid of text, the element type of text[].
const textOID = 25

// textArray writes ss as a one-dimensional text[] (an empty array for an
// empty or nil ss).
func (c *copyData) textArray(ss []string) {
	n := 12
	if len(ss) > 0 {
		n = 20
		for _, s := range ss {
			n += 4 + len(s)
		}
	}
	c.size(n)
	if len(ss) == 0 {
		c.b = binary.BigEndian.AppendUint32(c.b, 0) // no dimensions
		c.b = binary.BigEndian.AppendUint32(c.b, 0) // no NULLs
		c.b = binary.BigEndian.AppendUint32(c.b, textOID)
		return
	}
	c.b = binary.BigEndian.AppendUint32(c.b, 1)
	c.b = binary.BigEndian.AppendUint32(c.b, 0)
	c.b = binary.BigEndian.AppendUint32(c.b, textOID)
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(ss)))
	c.b = binary.BigEndian.AppendUint32(c.b, 1) // lower bound
	c.text(ss...)
}

// textArrayOrNull writes ss as text[], or NULL when it is empty.
func (c *copyData) textArrayOrNull(ss []string) {
	if len(ss) == 0 {
		c.null()
		return
	}
	c.textArray(ss)
}

func (c *copyData) uuid(id [16]byte) {
	c.size(16)
	c.b = append(c.b, id[:]...)
}

func (c *copyData) int2(v int16) {
	c.size(2)
	c.b = binary.BigEndian.AppendUint16(c.b, uint16(v))
}

func (c *copyData) int4(v int32) {
	c.size(4)
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(v))
}

func (c *copyData) int8(v int64) {
	c.size(8)
	c.b = binary.BigEndian.AppendUint64(c.b, uint64(v))
}

func (c *copyData) bool(v bool) {
	c.size(1)
	c.b = append(c.b, byte(b2i(v)))
}

// timestamptz writes t in microseconds since 2000-01-01 UTC, truncating
// nanoseconds as pgx does.
func (c *copyData) timestamptz(t time.Time) {
	c.int8(t.Unix()*1_000_000 + int64(t.Nanosecond())/1000 - microsY2K)
}

// timestamptzOrNull writes *t, or NULL for nil.
func (c *copyData) timestamptzOrNull(t *time.Time) {
	if t == nil {
		c.null()
		return
	}
	c.timestamptz(*t)
}

// end appends the trailer and returns the data, ready to send.
func (c *copyData) end() []byte {
	return binary.BigEndian.AppendUint16(c.b, 0xffff) // field count -1
}

// copyInto sends data (see end) to COPY table (columns) on tx's connection.
func copyInto(ctx context.Context, tx pgx.Tx, table pgx.Identifier, columns []string, data []byte) error {
	quoted := make([]string, len(columns))
	for i, col := range columns {
		quoted[i] = pgx.Identifier{col}.Sanitize()
	}
	sql := fmt.Sprintf("COPY %s (%s) FROM STDIN (FORMAT binary)", table.Sanitize(), strings.Join(quoted, ", "))
	_, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(data), sql)
	return err
}
