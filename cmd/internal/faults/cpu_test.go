package faults_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/faults"
)

func TestProcessCPU(t *testing.T) {
	t.Parallel()
	require.Zero(t, faults.ProcessCPU(-1))
	busy := time.Now()
	for time.Since(busy) < 50*time.Millisecond { // burn some CPU
	}
	require.Positive(t, faults.ProcessCPU(os.Getpid()))
}
