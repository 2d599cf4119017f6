package faults_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/faults"
)

func TestNATSServerSurvivesSIGKILLOnItsStore(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns, err := faults.StartNATSServer(ctx, faults.NATSConfig{Binary: binaries(t).NATSServer, Dir: t.TempDir(), SyncAlways: true})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, ns.Stop()) })
	require.Contains(t, ns.Process().Logs(), "Version:  2.15")
	url := ns.URL()

	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s"}, Storage: jetstream.FileStorage})
	require.NoError(t, err)
	_, err = js.Publish(ctx, "s", []byte("kept"))
	require.NoError(t, err)

	require.NoError(t, ns.Kill())
	require.NoError(t, ns.Start(ctx))
	require.Equal(t, url, ns.URL(), "same port after restart")
	require.Eventually(t, nc.IsConnected, 30*time.Second, 20*time.Millisecond)
	var msg *jetstream.RawStreamMsg
	require.Eventually(t, func() bool {
		s, err := js.Stream(ctx, "S")
		if err != nil {
			return false
		}
		msg, err = s.GetMsg(ctx, 1)
		return err == nil
	}, 30*time.Second, 50*time.Millisecond)
	require.Equal(t, "kept", string(msg.Data))

	// Paused, it holds the connection but acknowledges nothing.
	require.NoError(t, ns.Pause())
	pctx, pcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = js.Publish(pctx, "s", []byte("late"))
	pcancel()
	require.Error(t, err)
	require.NoError(t, ns.Resume())
	_, err = js.Publish(ctx, "s", []byte("after"))
	require.NoError(t, err)
}

func TestNATSServerConfigErrors(t *testing.T) {
	t.Parallel()
	_, err := faults.StartNATSServer(context.Background(), faults.NATSConfig{})
	require.ErrorContains(t, err, "Binary and Dir are required")
	_, err = faults.StartNATSServer(context.Background(), faults.NATSConfig{Binary: "/nonexistent/nats-server", Dir: t.TempDir()})
	require.ErrorContains(t, err, "start nats-server")
}
