// Package replay decides recorded invites again with a candidate policy
// and reports what would have changed: the engine of `invitegate policy
// replay` and of `policy apply --replay`.
//
// Place in the flow:
//
//	IM -> ingress -> decider -> JetStream -> projector -> [Postgres] -> replay (offline, read-only)
//
// Run streams the invite_events rows of a time window out of PostgreSQL
// with one COPY ... TO STDOUT (FORMAT binary) inside a read-only
// transaction, so a role with SELECT on the invitegate schema is enough.
// Each row carries the inputs its decision saw (members in request order,
// group, platform, client IP, event time, and the statistics the ingress
// held: stats, stats_unread, stats_known); workers rebuild the
// decider.Request, decide it with the candidate snapshot, reading
// statistics from the row (decider.RecordedStats), and compare the answer
// with the one recorded. A row with limit_hit set was answered by the fail
// mode because a bound kept the policy from deciding: it is counted in
// Summary.Limited and not compared. Memory is bounded whatever the window: rows travel
// in fixed-size batches through a bounded channel, and the per-operator and
// per-group counts are kept in bounded counters (exact until more than
// Config.TopCapacity keys changed, then lower bounds of the heaviest).
package replay
