package replay

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

func TestDecodeJSONColumns(t *testing.T) {
	t.Parallel()
	cases := map[string][]decider.Refusal{
		`[]`:                                  nil,
		`[{"rule": "banned", "member": "a"}]`: {{Member: "a", Rule: "banned"}},
		`[{"rule":"r","member":"a"},{"member":"b","rule":"s"}]`:       {{Member: "a", Rule: "r"}, {Member: "b", Rule: "s"}},
		`[{"rule": "r", "member": "quote\"d \u00e9"}]`:                {{Member: "quote\"d é", Rule: "r"}},
		`[{"rule": "r", "member": "x", "extra": {"nested": [1, 2]}}]`: {{Member: "x", Rule: "r"}},
		` [ { "member" : "ü" , "rule" : "r" } ] `:                     {{Member: "ü", Rule: "r"}},
	}
	for in, want := range cases {
		got, err := decodeRefusals([]byte(in), nil)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := decodeRefusals([]byte(`[{"member": 1}]`), nil)
	require.Error(t, err)
	_, err = decodeRefusals([]byte(`[{"member": "a"`), nil)
	require.Error(t, err)

	stats, err := decodeStatReads([]byte(`[{"key": "alice", "stat": "operator_invites_1h", "value": -201}, {"key": "b", "stat": "s", "value": 9.5e1}]`), nil)
	require.Error(t, err, "a fraction is not an int64")
	stats, err = decodeStatReads([]byte(`[{"key": "alice", "stat": "operator_invites_1h", "value": -201}]`), stats)
	require.NoError(t, err)
	require.Equal(t, []decider.StatRead{{Stat: "operator_invites_1h", Key: "alice", Value: -201}}, stats)
}

// copyStream is the binary COPY of rows of two text fields.
func copyStream(rows [][2]string) []byte {
	b := []byte(copySignature)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, 4) // a header extension of 4 bytes
	b = append(b, 1, 2, 3, 4)
	for _, r := range rows {
		b = binary.BigEndian.AppendUint16(b, 2)
		for _, f := range r {
			b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
			b = append(b, f...)
		}
	}
	return binary.BigEndian.AppendUint16(b, 0xffff)
}

func TestRowSplitterAnyChunking(t *testing.T) {
	t.Parallel()
	var rows [][2]string
	for i := range 7 {
		rows = append(rows, [2]string{string(rune('a' + i)), ""})
	}
	data := copyStream(rows)
	for _, chunk := range []int{1, 2, 3, 7, 64, len(data)} {
		out := make(chan *batch, 16)
		s := &rowSplitter{ctx: context.Background(), out: out, fields: 2, rowsPerBatch: 3}
		for i := 0; i < len(data); i += chunk {
			_, err := s.Write(data[i:min(i+chunk, len(data))])
			require.NoError(t, err)
		}
		require.True(t, s.ended)
		require.NoError(t, s.flush())
		close(out)
		var got []string
		for b := range out {
			for k, off := range b.rows {
				end := len(b.data)
				if k+1 < len(b.rows) {
					end = b.rows[k+1]
				}
				f := fieldReader{b: b.data[off:end]}
				got = append(got, f.str()+f.str())
			}
		}
		require.Equal(t, []string{"a", "b", "c", "d", "e", "f", "g"}, got, "chunks of %d", chunk)
		require.Equal(t, int64(7), s.rows)
	}
	s := &rowSplitter{ctx: context.Background(), fields: 3, rowsPerBatch: 3}
	_, err := s.Write(data)
	require.ErrorIs(t, err, errCopyFormat)
	_, err = (&rowSplitter{}).Write([]byte("not a COPY stream at all"))
	require.ErrorIs(t, err, errCopyFormat)
}
