// Package policylog is the projector's side of the policy log: it folds
// INVITEGATE_POLICY into the compacted snapshots ingress replicas start
// from, and writes every policy event into PostgreSQL for analysts.
//
// Place in the flow:
//
//	IM -> ingress -> decider -> JetStream -> [projector] -> Postgres and snapshot -> ingress
//
// A Compactor follows the whole stream (every app) with an ordered
// consumer and folds each app's events (decider.Fold, exactly as replicas
// do). Every CompactEvery events, or CompactInterval after the first event
// not yet compacted, it writes the snapshot of each app that changed to the
// Object Store (policystore.SaveSnapshot: document, lists, revision and the
// stream position covered), then a checkpoint: the position every app's
// snapshot covers. On restart it resumes from the checkpoint, starting each
// app's fold from its snapshot, so its work never grows with history; a
// starting replica loads the snapshot and replays only what follows.
//
// With Config.Trust both judge events as the replicas do (only signed
// events apply) and the compactor signs each snapshot with
// Config.SnapshotKey.
//
// A RevisionWriter writes one invitegate.policy_revisions row per event
// (applied or rejected, with the reason and the signing key), in stream
// order, batches in one transaction each. What PostgreSQL refuses (NUL,
// invalid UTF-8) is stored rewritten, noted in stored_note; a batch it
// refuses is written row by row, and a row it still refuses is stored
// without its payload, so one event never blocks the next. Its checkpoint is the table itself (max(revision)), and
// the state it needs to judge an event (each app's document in force) is
// read back from the table, so a restart loses and duplicates nothing.
//
//	c, err := policylog.NewCompactor(cfg, js, logger, reg)
//	w, err := policylog.NewRevisionWriter(cfg, js, pool, logger, reg)
//	err = c.Start(ctx); err = w.Start(ctx)
//	defer c.Stop(ctx); defer w.Stop(ctx)
package policylog
