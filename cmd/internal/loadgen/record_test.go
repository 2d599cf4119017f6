package loadgen

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadRecords(t *testing.T) {
	t.Parallel()
	recs, err := ReadRecords(strings.NewReader(`{"key":"r.0","seq":0,"outcome":"allow"}` + "\n" + `{"key":"r.1","seq":1,"outcome":"error","error_kind":"timeout"}` + "\n"))
	require.NoError(t, err)
	require.Len(t, recs, 2)
	require.True(t, recs[0].Answered())
	require.False(t, recs[1].Answered())

	recs, err = ReadRecords(strings.NewReader(`{"key":"r.0","seq":0}` + "\n" + `{"key": nope}` + "\n"))
	require.ErrorContains(t, err, "record 2:")
	require.Len(t, recs, 1, "the lines before the bad one are kept")
}
