package faults_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/faults"
)

const app = "1400000000"

var (
	buildOnce sync.Once
	bins      faults.Binaries
	buildErr  error
)

// binaries builds invitegate and nats-server once per test process, into a
// directory removed when the process ends (see TestMain).
func binaries(t testing.TB) faults.Binaries {
	t.Helper()
	buildOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		bins, buildErr = faults.Build(ctx, binDir)
	})
	require.NoError(t, buildErr)
	return bins
}

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "faults-bin-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// policyFile is the repository's example policy.
func policyFile(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs("../../../deploy/policy/example.yaml")
	require.NoError(t, err)
	return p
}
