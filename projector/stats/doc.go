// Package stats is the projector's aggregator of traffic statistics: the
// feedback arrow of the design.
//
// Its place in the flow: IM -> ingress -> decider -> JetStream
// (INVITEGATE_EVENTS) -> projector/stats (sliding windows) -> core NATS
// subject invitegate.stats.updates -> every ingress (ingress/statsfeed) ->
// decider rules reading stats.NAME.
//
// Windows: per operator, member and group, sparse buckets (1 minute for
// the 1-hour counts, 10 minutes for the 24-hour counts) at each event's
// ReceivedAt, so counts slide down as the clock passes without new
// events. Group sizes do not slide (see Counters.Apply).
//
// Several projector processes: every Aggregator reads the whole stream
// with its own ordered consumer (no shared durable, no election) and
// publishes absolute values, so N aggregators compute the same counters
// and an ingress hearing several gets the same value twice. A restart
// rebuilds the windows from the last 24 hours of the stream (Config.Rebuild)
// before publishing anything.
//
// PostgreSQL (with WriteTo and KeepGroupSizes, both a CounterStore):
// invitegate.group_sizes keeps every group's size with the stream sequence
// it covers, so sizes outlive restarts and the stream's history and an idle
// group can leave memory; invitegate.stats_counters holds the top keys of
// each statistic for analysts. Memory is bounded by Config.MaxKeys: past
// it the least recently active keys are forgotten.
//
//	a, err := stats.New(stats.Config{}, nc, js, logger, reg)
//	err = a.Start(ctx) // reads, then publishes every 200ms
//	defer a.Stop(ctx)
package stats
