package main

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"

	"github.com/invitegate/invitegate/ingress/statsfeed"
	"github.com/invitegate/invitegate/projector/stats"
)

// statsOptions wire the traffic statistics into a process: the ingress
// keeps a statsfeed table its engine reads (stats.NAME in rules), the
// projector runs a stats aggregator publishing to every ingress and
// writing invitegate.stats_counters and invitegate.group_sizes. A process without NATS has none.
// --stats-off turns it off (the package defaults apply otherwise).
type statsOptions struct {
	feed      statsfeed.Config
	aggregate stats.Config
	maxKeys   int
	off       bool

	ingress, projector bool
}

func newStatsOptions(ingress, projector bool) statsOptions {
	return statsOptions{ingress: ingress, projector: projector}
}

func (o *statsOptions) register(f *flags) {
	f.Bool(&o.off, "stats-off", false, "no traffic statistics: the projector does not aggregate them and the ingress does not follow them (stats.* in rules read 0)")
	if o.projector {
		f.Int(&o.aggregate.TopKeys, "stats-top-keys", stats.DefaultTopKeys, "keys of each statistic and app kept in invitegate.stats_counters (the top_counters view), rewritten every 10 s")
		f.Duration(&o.aggregate.DedupWindow, "stats-dedup-window", stats.DefaultDedupWindow, "event time over which the stats aggregator remembers event ids, so a copy stored again past the stream's duplicate window is counted once")
		f.Int(&o.aggregate.DedupMaxIDs, "stats-dedup-max-ids", stats.DefaultDedupMaxIDs, "most event ids remembered for that (about 35 bytes each); past it the oldest minutes are forgotten first")
	}
	if o.projector || o.ingress {
		f.Int(&o.maxKeys, "stats-max-keys", stats.DefaultMaxKeys, "most operators, members and groups held in memory: by the stats aggregator (about 200 bytes each; past it the least recently active are forgotten, counted in invitegate_stats_evicted_keys_total) and by the ingress's stats table (about 50 bytes each; past it updates for new keys are dropped, counted in invitegate_stats_updates_dropped_total)")
	}
}

// enable completes o from the other roles' options and returns it, or nil
// when statistics are off or the process has no NATS.
func (o *statsOptions) enable(c appConfig) *statsOptions {
	if o.off || c.nats == nil {
		return nil
	}
	o.ingress = o.ingress && c.ingress != nil
	o.projector = o.projector && c.projector != nil
	o.aggregate.MaxKeys, o.feed.MaxKeys = o.maxKeys, o.maxKeys
	if o.ingress {
		o.feed.App = c.ingress.cfg.SdkAppID // updates for other apps are dropped
	}
	return o
}

func (o *statsOptions) fxOptions() []fx.Option {
	var opts []fx.Option
	if o.ingress {
		opts = append(opts, fx.Supply(o.feed), statsfeed.Module, fx.Invoke(func(*statsfeed.Follower) {}))
	}
	if o.projector {
		opts = append(opts, fx.Supply(o.aggregate), stats.Module,
			fx.Invoke(func(a *stats.Aggregator, pool *pgxpool.Pool) {
				store := stats.NewCounterStore(pool, nil) // invoked at construction, before any OnStart
				a.WriteTo(store)
				a.KeepGroupSizes(store)
			}))
	}
	return opts
}
