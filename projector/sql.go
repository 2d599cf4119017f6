package projector

// SQL of the projector's writes, beside the code that runs it.

// createInviteStagingSQL creates the session's staging table for invites
// that may be stored already (see insertNewInvites); it is emptied at
// every commit.
const createInviteStagingSQL = `
CREATE TEMP TABLE IF NOT EXISTS invite_events_staging (LIKE invitegate.invite_events INCLUDING DEFAULTS)
ON COMMIT DELETE ROWS`

// insertStagedInvitesSQL inserts the staged invites that are not stored
// yet, in id order (so that concurrent transactions lock keys in the same
// order), and returns their ids.
const insertStagedInvitesSQL = `
INSERT INTO invitegate.invite_events (event_id, schema_version, app, command, group_id, group_type, operator,
	member_count, refused_count, outcome, refused, error_code, error_info, reject_rule, shadow,
	policy_revision, fail_mode, platform, client_ip, event_time, received_at, decided_at, stream_seq, stats,
	members, stats_unread, stats_known, limit_hit)
SELECT event_id, schema_version, app, command, group_id, group_type, operator,
	member_count, refused_count, outcome, refused, error_code, error_info, reject_rule, shadow,
	policy_revision, fail_mode, platform, client_ip, event_time, received_at, decided_at, stream_seq, stats,
	members, stats_unread, stats_known, limit_hit
FROM pg_temp.invite_events_staging
ORDER BY event_id
ON CONFLICT (event_id, received_at) DO NOTHING
RETURNING event_id`

const insertMembershipsSQL = `
INSERT INTO invitegate.membership_events (event_id, schema_version, kind, app, command, group_id, group_type,
	operator, members, change_type, platform, client_ip, event_time, received_at, decided_at, stream_seq,
	limit_hit)
SELECT id, schema_version, kind, app, command, group_id, group_type,
	operator, ARRAY(SELECT jsonb_array_elements_text(members::jsonb)), change_type, platform, client_ip,
	nullif(event_time, $18), received_at, decided_at, stream_seq, nullif(limit_hit, '')
FROM unnest($1::uuid[], $2::int2[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
	$8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[], $14::timestamptz[],
	$15::timestamptz[], $16::int8[], $17::text[])
	AS u(id, schema_version, kind, app, command, group_id, group_type,
	operator, members, change_type, platform, client_ip, event_time, received_at, decided_at, stream_seq,
	limit_hit)
ON CONFLICT (event_id, received_at) DO NOTHING`

const upsertHourlySQL = `
INSERT INTO invitegate.invite_rollup_hourly AS r (hour, app, group_type, platform, requests, requests_partial,
	requests_rejected, requests_fail_mode, members_invited, members_refused, members_rejected, requests_limited)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[],
	$7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int8[])
ON CONFLICT (hour, app, group_type, platform) DO UPDATE SET
	requests = r.requests + excluded.requests,
	requests_partial = r.requests_partial + excluded.requests_partial,
	requests_rejected = r.requests_rejected + excluded.requests_rejected,
	requests_fail_mode = r.requests_fail_mode + excluded.requests_fail_mode,
	members_invited = r.members_invited + excluded.members_invited,
	members_refused = r.members_refused + excluded.members_refused,
	members_rejected = r.members_rejected + excluded.members_rejected,
	requests_limited = r.requests_limited + excluded.requests_limited`

const upsertRulesSQL = `
INSERT INTO invitegate.invite_rollup_rule_daily AS r (day, app, rule, mode, members_refused, requests_rejected)
SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[])
ON CONFLICT (day, app, rule, mode) DO UPDATE SET
	members_refused = r.members_refused + excluded.members_refused,
	requests_rejected = r.requests_rejected + excluded.requests_rejected`

const upsertOperatorsSQL = `
INSERT INTO invitegate.invite_rollup_operator_daily AS r (day, app, operator, requests, members_invited,
	members_refused, requests_rejected)
SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::int8[])
ON CONFLICT (day, app, operator) DO UPDATE SET
	requests = r.requests + excluded.requests,
	members_invited = r.members_invited + excluded.members_invited,
	members_refused = r.members_refused + excluded.members_refused,
	requests_rejected = r.requests_rejected + excluded.requests_rejected`

const upsertDeadLetterSQL = `
INSERT INTO invitegate.dead_letters AS d (stream, stream_seq, line, subject, msg_id, payload, reason, error,
	deliveries, first_failed_at, last_failed_at, terminated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)
ON CONFLICT (stream, stream_seq, line) DO UPDATE SET
	payload = excluded.payload, reason = excluded.reason, error = excluded.error,
	deliveries = greatest(d.deliveries, excluded.deliveries),
	last_failed_at = excluded.last_failed_at,
	terminated_at = coalesce(d.terminated_at, excluded.terminated_at)`

// clearRetriedSQL removes the 'store' dead letters of messages that have
// now been stored: they were failures that did not last.
const clearRetriedSQL = `
DELETE FROM invitegate.dead_letters
WHERE stream = $1 AND stream_seq = ANY($2::int8[]) AND line = -1 AND terminated_at IS NULL`
