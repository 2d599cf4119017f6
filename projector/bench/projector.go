package bench

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/decider/cputime"
	"github.com/invitegate/invitegate/migrations"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/invitegate/invitegate/projector"
)

// ProjectorConfig configures Projector.
type ProjectorConfig struct {
	// Events is how many invite events to pre-fill and drain. Default 200,000.
	Events int
	// EventsPerMessage is the NDJSON batch size of each NATS message.
	// Default 256: smaller than most batches the outbox seals under load
	// (up to 1024 events or 512 KiB), so the per-message work is not
	// understated.
	EventsPerMessage int
	// ServerURL is the PostgreSQL server, without a database name; the
	// benchmark creates a database invitegate_bench_<random> there and
	// drops it at the end. Default postgres://postgres@127.0.0.1:5432/.
	ServerURL string
	// Worker configures the projector; DatabaseURL is set by the benchmark.
	Worker projector.Config
}

// ProjectorResult is what Projector measured.
type ProjectorResult struct {
	Events          int
	Messages        int
	Elapsed         time.Duration // from Worker.Start to the last event committed
	EventsPerSecond float64
	// CPU time spent draining: this process (Worker, NATS client and the
	// embedded server) and the PostgreSQL backends (zero when they could
	// not be read). Unlike Elapsed, it barely depends on what else the
	// machine runs.
	ProcessCPU, PostgresCPU time.Duration
}

// CPUPerEvent is the CPU time one event cost, process and PostgreSQL.
func (r ProjectorResult) CPUPerEvent() time.Duration {
	return (r.ProcessCPU + r.PostgresCPU) / time.Duration(max(r.Events, 1))
}

func (r ProjectorResult) String() string {
	s := fmt.Sprintf("projector: %d events (%d messages) drained into PostgreSQL in %s: %.0f events/s",
		r.Events, r.Messages, r.Elapsed.Round(time.Millisecond), r.EventsPerSecond)
	if r.PostgresCPU > 0 {
		per := r.CPUPerEvent()
		s += fmt.Sprintf("\nCPU per event: process %s + PostgreSQL %s = %s (%.0f events per CPU-second)",
			(r.ProcessCPU / time.Duration(r.Events)).Round(100*time.Nanosecond),
			(r.PostgresCPU / time.Duration(r.Events)).Round(100*time.Nanosecond),
			per.Round(100*time.Nanosecond), float64(time.Second)/float64(per))
	}
	return s
}

// Projector pre-fills an embedded JetStream stream (store in a temporary
// directory) with cfg.Events synthetic invites, then times a Worker
// draining them into a fresh database.
func Projector(ctx context.Context, cfg ProjectorConfig, logger *slog.Logger) (ProjectorResult, error) {
	cfg.Events = cmp.Or(cfg.Events, 200_000)
	cfg.EventsPerMessage = cmp.Or(cfg.EventsPerMessage, 256)
	cfg.ServerURL = cmp.Or(cfg.ServerURL, "postgres://postgres@127.0.0.1:5432/")
	res := ProjectorResult{Events: cfg.Events}

	dir, err := os.MkdirTemp("", "invitegate-bench-nats-")
	if err != nil {
		return res, fmt.Errorf("nats store dir: %w", err)
	}
	defer os.RemoveAll(dir)
	srv, err := natsconn.StartEmbedded(natsconn.EmbeddedConfig{StoreDir: dir}, nil)
	if err != nil {
		return res, err
	}
	defer func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	}()
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		return res, fmt.Errorf("connect to nats: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return res, fmt.Errorf("jetstream: %w", err)
	}
	if _, err := natsconn.EnsureEventStream(ctx, js, natsconn.EventStreamConfig{}); err != nil {
		return res, err
	}
	if res.Messages, err = prefill(ctx, js, cfg.Events, cfg.EventsPerMessage); err != nil {
		return res, err
	}

	dsn := cfg.ServerURL + "invitegate_bench_" + strconv.FormatInt(time.Now().UnixNano(), 36) + "?sslmode=disable"
	wcfg := cfg.Worker
	wcfg.DatabaseURL = dsn
	if _, err := projector.Prepare(ctx, wcfg); err != nil {
		return res, err
	}
	defer migrations.DropDatabase(context.WithoutCancel(ctx), dsn) //nolint:errcheck // best effort
	pool, err := projector.NewPool(wcfg)
	if err != nil {
		return res, err
	}
	defer pool.Close()
	cpu := cputime.Self()
	res.Elapsed, err = drain(ctx, wcfg, js, pool, cfg.Events, logger)
	res.ProcessCPU = cputime.Self() - cpu
	res.EventsPerSecond = float64(cfg.Events) / res.Elapsed.Seconds()
	if pgCPU, ok := backendCPU(ctx, pool); ok && err == nil {
		res.PostgresCPU = pgCPU
	}
	return res, err
}

// prefill publishes n synthetic invites in messages of per events, one app
// per message, and waits for every PubAck.
func prefill(ctx context.Context, js jetstream.JetStream, n, per int) (int, error) {
	now := time.Now().UTC()
	msgs := 0
	for start := 0; start < n; start += per {
		app := "14000000" + strconv.Itoa(msgs%3)
		var data []byte
		end := min(start+per, n)
		for i := start; i < end; i++ {
			ev := SyntheticInvite(i, now.Add(-time.Duration(n-i)*time.Millisecond))
			ev.App = app
			var err error
			if data, err = decider.AppendEvent(data, &ev); err != nil {
				return msgs, err
			}
		}
		msg := nats.NewMsg(decider.EventSubject(app, decider.KindInvite))
		msg.Data = data
		msg.Header.Set(decider.HeaderCount, strconv.Itoa(end-start))
		msg.Header.Set(nats.MsgIdHdr, "bench-"+strconv.Itoa(msgs))
		if _, err := js.PublishMsgAsync(msg); err != nil {
			return msgs, fmt.Errorf("publish: %w", err)
		}
		msgs++
	}
	select {
	case <-js.PublishAsyncComplete():
		return msgs, nil
	case <-ctx.Done():
		return msgs, ctx.Err()
	}
}

// drain starts a Worker and returns the time it took to store want events.
func drain(ctx context.Context, cfg projector.Config, js jetstream.JetStream, pool *pgxpool.Pool, want int, logger *slog.Logger) (time.Duration, error) {
	reg := prometheus.NewRegistry()
	w, err := projector.New(cfg, js, pool, logger, reg)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := w.Start(ctx); err != nil {
		return 0, err
	}
	defer w.Stop(context.WithoutCancel(ctx)) //nolint:errcheck // the measurement is over
	// Gather costs CPU, which is measured: poll it sparingly.
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		if n, err := storedEvents(reg); err != nil || n >= want {
			return time.Since(start), err
		}
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-tick.C:
		}
	}
}

func storedEvents(reg *prometheus.Registry) (int, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, fmt.Errorf("gather metrics: %w", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "invitegate_projector_events_total" {
			total := 0.0
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
			return int(total), nil
		}
	}
	return 0, nil
}
