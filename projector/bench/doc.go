// Package bench measures the projector against its bars, for
// `invitegate-dev bench projector` and `invitegate-dev bench analytics` (and the
// Makefile targets bench-projector and bench-analytics).
//
// Place in the flow:
//
//	IM -> ingress -> decider -> JetStream -> [projector] -> Postgres and snapshot -> ingress
//
// Projector pre-fills an embedded JetStream stream with synthetic invite
// events (2 members each), then times a projector.Worker draining them into
// a fresh PostgreSQL database: bar ≥ 50,000 events/s. Analytics loads 10
// million synthetic invite events over 30 days into a database of its own
// (generate_series, then projector.RebuildRollups) and times each of
// projector.AnalystQueries: bar < 200 ms each.
package bench
