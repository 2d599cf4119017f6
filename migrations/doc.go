// Package migrations holds invitegate's PostgreSQL schema as SQL files
// embedded in the binary, and runs them with pressly/goose v3 (Provider API).
//
// Place in the flow:
//
//	IM -> ingress -> decider -> JetStream -> projector -> [Postgres] and snapshot -> ingress
//
// Everything lives in the schema "invitegate" (see Schema), including goose's
// version table (VersionTable). The projector migrates at start unless told
// not to; `invitegate migrate up|down|status` calls Up, Down and Status:
//
//	if err := migrations.EnsureDatabase(ctx, dsn); err != nil { ... }
//	report, err := migrations.Up(ctx, dsn)
//	fmt.Print(report)
//
// Migrations take a PostgreSQL session advisory lock, so several replicas
// may start at once: one migrates, the others wait (up to 5 minutes) and
// then find nothing to do. Each migration runs in its own transaction.
//
// Tables (00001_events.sql): invite_events (one row per invite callback),
// invite_members (one row per destination member), membership_events,
// dead_letters. Rollups and views (00002_rollups.sql): invite_trends_hourly,
// refusals_by_rule_daily, top_inviters_daily, read from tables the projector
// maintains in the same transaction as the event rows.
//
// 00006_partitions.sql partitions invite_events, invite_members and
// membership_events by UTC day of received_at (primary keys now hold
// received_at), with the functions create_daily_partitions and
// drop_partitions and the view partitions the projector's maintenance and
// retention use; it creates the read-only role invitegate_analyst and the
// function decisions ("why was this refused?"). It converts an existing
// installation by copying every row inside its transaction.
package migrations
