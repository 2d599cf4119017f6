package policystore

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSanitizeID(t *testing.T) {
	t.Parallel()
	require.Equal(t, "a_b_c", SanitizeID("a.b c"))
	require.Equal(t, "replica", SanitizeID(""))
	require.Equal(t, "host-1_x", SanitizeID("host-1_x"))
}
