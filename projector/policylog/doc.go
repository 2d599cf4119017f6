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
// A RevisionWriter writes one invitegate.policy_revisions row per event
// (applied or rejected, with the reason), in stream order, batches in one
// transaction each. Its checkpoint is the table itself (max(revision)), and
// the state it needs to judge an event (each app's document in force) is
// read back from the table, so a restart loses and duplicates nothing.
//
//	c, err := policylog.NewCompactor(cfg, js, logger, reg)
//	w, err := policylog.NewRevisionWriter(cfg, js, pool, logger, reg)
//	err = c.Start(ctx); err = w.Start(ctx)
//	defer c.Stop(ctx); defer w.Stop(ctx)
package policylog
