package projector

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

// TestCopyDataMatchesPgx holds the hand-written COPY encoding to pgx's
// binary encoding of the same values.
func TestCopyDataMatchesPgx(t *testing.T) {
	t.Parallel()
	m := pgtype.NewMap()
	refused := []decider.Refusal{{Member: "a\"<", Rule: "r"}}
	cases := []struct {
		oid   uint32
		value any
		write func(*copyData)
	}{
		{pgtype.UUIDOID, [16]byte{1, 2, 3, 15: 0xff}, func(c *copyData) { c.uuid([16]byte{1, 2, 3, 15: 0xff}) }},
		{pgtype.Int2OID, int16(-2), func(c *copyData) { c.int2(-2) }},
		{pgtype.Int4OID, int32(1 << 30), func(c *copyData) { c.int4(1 << 30) }},
		{pgtype.Int8OID, int64(-1 << 62), func(c *copyData) { c.int8(-1 << 62) }},
		{pgtype.BoolOID, true, func(c *copyData) { c.bool(true) }},
		{pgtype.BoolOID, false, func(c *copyData) { c.bool(false) }},
		{pgtype.TextOID, "李雷 ok", func(c *copyData) { c.text("李雷 ok") }},
		{pgtype.TextOID, "", func(c *copyData) { c.text("") }},
		{pgtype.JSONBOID, `[{"member":"a\"\u003c","rule":"r"}]`, func(c *copyData) { c.jsonb(1, refused) }},
	}
	for _, at := range []time.Time{
		time.Date(2026, 11, 28, 9, 24, 10, 101234567, time.UTC),
		time.Date(2026, 11, 28, 9, 24, 10, 101234567, time.FixedZone("", 8*3600)),
		time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(1969, 7, 20, 20, 17, 40, 500, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
	} {
		cases = append(cases, struct {
			oid   uint32
			value any
			write func(*copyData)
		}{pgtype.TimestamptzOID, at, func(c *copyData) { c.timestamptz(at) }})
	}
	for _, tc := range cases {
		want, err := m.Encode(tc.oid, pgtype.BinaryFormatCode, tc.value, []byte{})
		require.NoError(t, err)
		c := &copyData{}
		tc.write(c)
		require.Equal(t, binary.BigEndian.AppendUint32(nil, uint32(len(want))), c.b[:4], "length of %v", tc.value)
		require.Equal(t, want, c.b[4:], "%T %v", tc.value, tc.value)
	}
	for _, null := range []func(*copyData){
		func(c *copyData) { c.textOrNull(nil) }, func(c *copyData) { c.timestamptzOrNull(nil) },
		func(c *copyData) { c.jsonb(0, []decider.Refusal{}) },
	} {
		c := &copyData{}
		null(c)
		require.Equal(t, []byte{0xff, 0xff, 0xff, 0xff}, c.b)
	}
}
