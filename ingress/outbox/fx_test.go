package outbox

import (
	"testing"
	"time"

	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

func TestModuleStartsPublishesAndStops(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	var (
		o  *Outbox
		js jetstream.JetStream
	)
	app := fxtest.New(t,
		natsconn.Module, Module,
		fx.Supply(
			natsconn.Config{Embedded: natsconn.EmbeddedConfig{StoreDir: t.TempDir()}},
			testConfig(dir),
			fx.Annotate(reg, fx.As(new(prometheus.Registerer))),
			discard(),
		),
		fx.Populate(&o, &js),
	)
	app.RequireStart()
	ids := enqueueN(o, 100)
	require.Eventually(t, func() bool { return published(o) == 100 }, 10*time.Second, 5*time.Millisecond)
	requireExactlyOnce(t, readStream(t, js), ids)
	app.RequireStop()
	requireSpoolEmpty(t, dir)

	families, err := reg.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	for _, want := range []string{"invitegate_events_enqueued_total", "invitegate_events_published_total",
		"invitegate_outbox_events", "invitegate_spool_bytes", "invitegate_spool_events",
		"invitegate_publish_batches_total", "invitegate_publish_batch_duration_seconds"} {
		require.True(t, names[want], want)
	}
}

func published(o *Outbox) int { return harness{o: o}.published() }

func TestModuleGraphIsValid(t *testing.T) {
	t.Parallel()
	require.NoError(t, fx.ValidateApp(natsconn.Module, Module,
		fx.Supply(natsconn.Config{}, Config{}, fx.Annotate(prometheus.NewRegistry(), fx.As(new(prometheus.Registerer))), discard()),
		fx.Invoke(func(*Outbox) {})))
}
