// Package outbox gets every decided callback's event into JetStream, without
// making IM's answer wait for NATS (async durability) or holding the answer
// until the event is durable (sync durability), and without losing it when
// NATS, the network or the process goes away.
//
// Place in the flow:
//
//	IM -> ingress -> decider -> [outbox] -> JetStream -> projector -> Postgres and snapshot -> ingress
//
// # Batches
//
// Enqueue encodes the event (decider.AppendEvent) and appends it, under a
// short lock, to the open batch of its app and kind, which is one subject
// (decider.EventSubject). A batch is sealed at MaxBatchEvents events, before
// it would pass MaxBatchBytes, or BatchDelay after its first event. One batch
// is one NATS message: NDJSON body, a Nats-Msg-Id (its batch id), the
// Invitegate-Schema/Invitegate-Events/Content-Type headers of decider/batch.go
// and Nats-Expected-Stream. So one publish, one PubAck, one fsync and one
// dedup entry cover up to MaxBatchEvents callbacks: a server fsyncing every
// message (about 1,000 one-event messages/s in BenchmarkThroughput here)
// still takes tens of thousands of events per second. Under load BatchDelay
// (20 ms) seals first, so a busy subject costs the server one message per
// BatchDelay whatever the callback rate; the open batch is also what a
// killed process loses besides the batches in flight. When publishers are
// busy, the next ready batches of the same subject are merged into the one
// being dispatched (never a batch already sent), so batches grow with load.
//
// # Durability
//
// Config.Durability chooses when Enqueue returns. DurabilityAsync returns at
// once: the answer never waits for NATS, and a killed process loses the
// open batch (up to BatchDelay of events) and the batches awaiting their
// PubAck. DurabilitySync returns once the event is durable: acknowledged by
// JetStream (a PubAck: on a quorum's disks with R3 and sync_interval:
// always), or, when no PubAck came within SpoolAfter (100 ms) or NATS is
// disconnected, written and fsynced to the spool. Callers of one subject
// share one publish and one fsync (group commit, commit.go): a subject has
// at most one sync batch in flight, sealed as soon as none is, and the next
// collects meanwhile, so no caller waits on a timer. Enqueue waits at most
// DurabilityTimeout (500 ms); past it, it returns and counts the callback in
// invitegate_event_durability_total{result="durability_timeout"} (the event
// stays in the outbox and is published). The other results count how each
// wait ended: acked, spooled, dropped.
//
// # Acknowledgement and retries
//
// MaxInFlight publishers each take the oldest sealed batch and publish it
// (jetstream PublishMsg, bounded by AckTimeout) until a PubAck. A batch stays
// in the outbox until then; on an error, a timeout or a disconnect it is
// re-published with the same id and the same bytes, after a backoff
// (RetryMinBackoff doubling to RetryMaxBackoff, jittered) that a reconnect
// cuts short. While disconnected nothing is sent (the client's reconnect
// buffer would only fill with copies). A re-publish inside the stream's
// duplicate window is dropped by the server (PubAck.Duplicate); Config
// validation requires the window to be at least twice RetryHorizon, and the
// projector's primary key on the event id covers what comes later (a batch
// re-published after an outage longer than the window). A batch the client
// refuses as larger than the server's max_payload is split in halves with
// derived ids; a single event that large is dropped (reason "too_large").
//
// # Memory bound and spool
//
// Unacknowledged batches in memory are bounded by MaxMemoryBytes. A batch
// sealed beyond it, or while the spool still holds batches (so order is
// kept), is written to the spool: segment files under DataDir/spool, each a
// run of records framed with a magic, a length and a CRC-32C (record.go).
// As memory frees, spooled batches are loaded back oldest first and published
// under their original ids (so replay happens on reconnect, and at the next
// Start for what a previous run left). Each acknowledged record is listed in
// its segment's ack file (<seq>.ack, ackfile.go), so a restart publishes
// only the records not acknowledged; a segment and its ack file are deleted
// when all its records are acknowledged. Fsync policy: the open segment and
// the ack files are fsynced every SpoolSyncInterval (1 s), on rotation and
// at Stop, and before the callers of a sync batch are released; a killed
// process loses nothing, a power loss can lose the last interval of async
// batches and of acknowledgement marks (those records are published again:
// copies the projector and the statistics skip by event id).
//
// When the spool would pass SpoolMaxBytes, the batch is dropped: its events
// are counted in invitegate_events_dropped_total{reason="spool_full"} and an
// error is logged (at most one line per 10 s per reason, with the count).
// Damaged spool data (bad checksum or framing, a torn tail after a crash) is
// logged, counted in invitegate_spool_corrupt_records_total and skipped; the
// records around it are kept.
//
// # Lifecycle
//
//	o, err := outbox.New(cfg, js, nc, logger, registry)
//	err = o.Start(ctx)    // opens the spool, starts publishing; does not wait for NATS
//	o.Enqueue(ev)         // from the callback path, any goroutine
//	err = o.Stop(ctx)     // flush up to FlushTimeout, spool the rest
//
// Start ensures the INVITEGATE_EVENTS stream (natsconn.EnsureEventStream
// with Config.Stream) in the background, as soon as NATS is reachable.
// Stop gives up flushing at once if NATS is not connected. Events enqueued
// after Stop are dropped and counted (reason "stopped"), so the ingress must
// stop first; Enqueue before Start is fine. A spool directory must not be
// shared by two processes.
//
// Metrics: invitegate_events_enqueued_total{kind}, _events_published_total,
// _events_dropped_total{reason}, _outbox_events, _spool_bytes, _spool_events,
// _spool_corrupt_records_total, _publish_batches_total{result} (ok,
// duplicate, error), _publish_batch_duration_seconds and
// _event_durability_total{result} (sync: acked, spooled,
// durability_timeout, dropped).
package outbox
