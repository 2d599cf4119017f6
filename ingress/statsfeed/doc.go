// Package statsfeed keeps, in each ingress replica, the traffic statistics
// that rules read as stats.NAME.
//
// Its place in the flow: IM -> ingress -> decider -> JetStream -> projector
// (projector/stats aggregates sliding windows) -> core NATS subject
// invitegate.stats.updates -> statsfeed.Follower -> Table -> decider (and
// so back into every decision).
//
// The Table is separate from the policy snapshot: a policy change does not
// copy statistics and a statistics change does not recompile policy. The
// decision path reads it without locks or I/O (decider.StatsSource):
//
//	table := statsfeed.NewTable()
//	f, err := statsfeed.New(statsfeed.Config{}, nc, table, engine, logger, reg)
//	engine.SetStats(table)
//	err = f.Start(ctx)
//
// Updates carry absolute values, so applying one twice, or from two
// aggregators, is harmless. A value of 0 removes the key; a key that gets
// no update for Config.TTL is swept (the aggregator republishes every live
// key each refresh interval), so memory follows the keys active in the
// windows, not every key ever seen. Only the statistics the loaded policy
// reads are kept. A replica that starts, or misses messages (core NATS, no
// replay), converges at the aggregator's next refresh.
package statsfeed
