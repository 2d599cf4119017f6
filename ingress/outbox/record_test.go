package outbox

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func testBatch(i int) *batch {
	return &batch{id: fmt.Sprintf("batch-%d", i), subject: "invitegate.events.app.invite", events: i + 1,
		data: bytes.Repeat([]byte(fmt.Sprintf("{\"n\":%d}\n", i)), i+1)}
}

// segmentOf frames n batches and returns the bytes and each record's offset.
func segmentOf(n int) ([]byte, []int) {
	var (
		data []byte
		offs []int
	)
	for i := range n {
		offs = append(offs, len(data))
		data = appendRecord(data, testBatch(i))
	}
	return data, offs
}

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	data, _ := segmentOf(3)
	refs, bad := scanSegment(data)
	require.Empty(t, bad)
	require.Len(t, refs, 3)
	for i, ref := range refs {
		payload, err := checkRecord(data[ref.off : ref.off+int64(ref.size)])
		require.NoError(t, err)
		b, err := decodeRecord(payload)
		require.NoError(t, err)
		want := testBatch(i)
		require.Equal(t, want.id, b.id)
		require.Equal(t, want.subject, b.subject)
		require.Equal(t, want.events, b.events)
		require.Equal(t, want.data, b.data)
		require.Equal(t, want.events, ref.events)
	}
}

func TestScanSegmentSkipsDamageKeepsTheRest(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		damage   func(data []byte, offs []int) []byte
		wantGood []int // indexes of the records still found
		wantErr  string
	}{
		"bad crc": {func(d []byte, o []int) []byte { d[o[1]+recordHeaderSize+3] ^= 0xFF; return d },
			[]int{0, 2, 3}, "checksum mismatch"},
		"bad magic": {func(d []byte, o []int) []byte { d[o[2]] = 'X'; return d },
			[]int{0, 1, 3}, "bad magic"},
		"huge length": {func(d []byte, o []int) []byte { binary.LittleEndian.PutUint32(d[o[1]+4:], 1<<31); return d },
			[]int{0, 2, 3}, "too large"},
		"length past the end": {func(d []byte, o []int) []byte { binary.LittleEndian.PutUint32(d[o[0]+4:], 1<<20); return d },
			[]int{1, 2, 3}, "truncated payload"},
		"torn tail": {func(d []byte, o []int) []byte { return d[:o[3]+recordHeaderSize+2] },
			[]int{0, 1, 2}, "truncated payload"},
		"torn header": {func(d []byte, o []int) []byte { return d[:o[3]+5] },
			[]int{0, 1, 2}, "truncated header"},
		"garbage between": {func(d []byte, o []int) []byte {
			return append(d[:o[2]:o[2]], append([]byte("garbage\x00\x01"), d[o[2]:]...)...)
		}, []int{0, 1, 2, 3}, "bad magic"},
		"unknown version": {func(d []byte, o []int) []byte {
			p := d[o[1]+recordHeaderSize:]
			p[0] = 9
			binary.LittleEndian.PutUint32(d[o[1]+8:], recordCRC(d[o[1]+4:o[1]+8], p[:binary.LittleEndian.Uint32(d[o[1]+4:])]))
			return d
		}, []int{0, 2, 3}, "unknown version"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, offs := segmentOf(4)
			refs, bad := scanSegment(tc.damage(data, offs))
			require.Len(t, bad, 1)
			require.ErrorIs(t, bad[0].err, errBadRecord)
			require.ErrorContains(t, bad[0].err, tc.wantErr)
			var events []int
			for _, r := range refs {
				events = append(events, r.events-1) // testBatch(i) has i+1 events
			}
			require.Equal(t, tc.wantGood, events)
		})
	}
}

func TestSplitKeepsLinesAndDerivesIDs(t *testing.T) {
	t.Parallel()
	b := testBatch(4) // 5 events
	first, second := b.split()
	require.Equal(t, "batch-4.1", first.id)
	require.Equal(t, "batch-4.2", second.id)
	require.Equal(t, 2, first.events)
	require.Equal(t, 3, second.events)
	require.Equal(t, b.data, append(append([]byte(nil), first.data...), second.data...))
	require.Equal(t, 2, bytes.Count(first.data, []byte("\n")))
}
