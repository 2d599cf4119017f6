package outbox

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// spoolEvents counts the events in the good records of dir's spool.
func spoolEvents(t *testing.T, dataDir string) int {
	t.Helper()
	n := 0
	for _, path := range segmentFiles(t, dataDir) {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		refs, _ := scanSegment(data)
		for _, r := range refs {
			n += r.events
		}
	}
	return n
}

func segmentFiles(t *testing.T, dataDir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dataDir, "spool", "*"+segSuffix))
	require.NoError(t, err)
	return files
}

func requireSpoolEmpty(t *testing.T, dataDir string) {
	t.Helper()
	require.Empty(t, segmentFiles(t, dataDir))
}
