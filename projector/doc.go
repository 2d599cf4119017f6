// Package projector writes the event stream into PostgreSQL analytics.
//
// Place in the flow:
//
//	IM -> ingress -> decider -> JetStream -> [projector] -> Postgres and snapshot -> ingress
//
// A Worker reads the stream INVITEGATE_EVENTS through a durable pull
// consumer (default name "projector") with explicit acks. One NATS message
// is an NDJSON batch of events (decider.DecodeBatch); the Worker gathers
// messages until a batch holds Config.BatchSize events or Config.BatchWait
// has passed, and writes the batch in ONE transaction:
//
//   - invite_events by a binary COPY (encoded by hand, see copyData). When
//     an invite of the batch is stored already (a redelivery, or another
//     Worker racing for the same copy) the primary key on (event_id,
//     received_at) fails that transaction and the batch is written again,
//     its invites copied into a session temp table and inserted from there
//     with ON CONFLICT (event_id, received_at) DO NOTHING RETURNING;
//     membership_events with INSERT ... SELECT FROM unnest(...) ON CONFLICT
//     (event_id, received_at) DO NOTHING. Every copy of an event carries
//     the received_at the ingress gave it, so copies of an event already
//     stored are skipped: delivery may be at-least-once and several
//     Workers may share the consumer without duplicate rows;
//   - invite_members (binary COPY) and the rollups (invite_rollup_hourly,
//     invite_rollup_rule_daily, invite_rollup_operator_daily) for the newly
//     inserted invites only, so rollups count each event once. Rollup keys
//     are sorted and tables updated in a fixed order, so that concurrent
//     transactions cannot deadlock on them;
//   - dead_letters rows for the lines that did not decode.
//
// Messages are acknowledged only after the commit.
//
// Failures:
//   - a transient database error (connection lost, server restarting,
//     deadlock, missing table) is retried in-process with backoff
//     (Config.RetryMin..RetryMax), sending "in progress" so AckWait does not
//     expire: no delivery is spent and the batch commits once PostgreSQL is back;
//   - a line that does not decode, or cannot be stored (id not a UUID, NUL
//     character, revision beyond bigint), goes to dead_letters at once
//     (reason 'decode') and the other lines of its message are stored;
//   - a batch PostgreSQL refuses for a data reason is bisected until the
//     message at fault is alone; the others are stored. That message is
//     redelivered after Config.BackOff and, at its Config.MaxDeliver-th
//     delivery, written whole to dead_letters (reason 'store') and terminated.
//
// The server consumer's MaxDeliver is unlimited on purpose: deliveries
// spent on crashes and restarts must never make the server drop an event
// silently; the Worker applies MaxDeliver to data failures itself.
//
// The three event tables are partitioned by UTC day of received_at. A
// Worker creates the partitions from yesterday to Config.PartitionsAhead
// days ahead at start and every Config.PartitionInterval, and before a
// batch the partition of any day of its events that has none; with
// Config.Retention it drops the partitions wholly older (never a DELETE).
// The rollups are kept.
//
// The analyst views (invite_trends_hourly, refusals_by_rule_daily,
// top_inviters_daily) read the rollups; AnalystQueries lists the documented
// queries and RebuildRollups recomputes the rollups from the rows.
//
// Usage without fx:
//
//	if _, err := projector.Prepare(ctx, cfg); err != nil { ... } // create database, migrate
//	pool, err := projector.NewPool(cfg)
//	w, err := projector.New(cfg, js, pool, logger, prometheus.DefaultRegisterer)
//	err = w.Start(ctx)
//	defer w.Stop(stopCtx)
package projector
