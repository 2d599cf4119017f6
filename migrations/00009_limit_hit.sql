-- invitegate schema, part 9: which bound, if any, kept the policy from
-- deciding.
--
-- fail_mode is true both when no policy was loaded and when a policy was
-- loaded but a bound stopped it; limit_hit tells the two apart. It holds the
-- event's `limit`:
--
--   max_members       the callback carried more members than --max-members
--                     (on a membership event: only the first --max-members
--                     members were recorded)
--   decision_timeout  the decision ran past --decision-timeout
--
-- and is NULL when no bound was hit (fail_mode alone then means "no policy
-- loaded"), and in rows stored before this migration. `limit` is a reserved
-- word, hence the name.
--
-- invite_rollup_hourly counts such invites in requests_limited (a subset of
-- requests_fail_mode), shown by the invite_trends_hourly view. Invites
-- stored before this migration have limit_hit NULL and count 0 there.
--
-- ADD COLUMN without a default (or with a constant one) rewrites nothing,
-- and on a partitioned table reaches every partition.
--
--   SELECT limit_hit, count(*) FROM invitegate.invite_events
--   WHERE fail_mode AND received_at > now() - interval '1 day'
--   GROUP BY 1;  -- limit_hit NULL: no policy loaded

-- +goose Up
ALTER TABLE invitegate.invite_events
    ADD COLUMN IF NOT EXISTS limit_hit text;
ALTER TABLE invitegate.membership_events
    ADD COLUMN IF NOT EXISTS limit_hit text;
ALTER TABLE invitegate.invite_rollup_hourly
    ADD COLUMN IF NOT EXISTS requests_limited bigint NOT NULL DEFAULT 0;

-- requests_limited: callbacks decided by --fail-mode because a bound was hit
-- (limit_hit set), a subset of requests_fail_mode.
CREATE OR REPLACE VIEW invitegate.invite_trends_hourly AS
SELECT hour, app, group_type, platform,
       requests, members_invited, members_refused, requests_rejected,
       requests_partial, requests_fail_mode, members_rejected, requests_limited
FROM invitegate.invite_rollup_hourly;

-- +goose Down
-- A view cannot lose a column by CREATE OR REPLACE: drop it, then recreate
-- it as part 2 left it (grants on it must be given again).
DROP VIEW invitegate.invite_trends_hourly;
CREATE VIEW invitegate.invite_trends_hourly AS
SELECT hour, app, group_type, platform,
       requests, members_invited, members_refused, requests_rejected,
       requests_partial, requests_fail_mode, members_rejected
FROM invitegate.invite_rollup_hourly;
ALTER TABLE invitegate.invite_rollup_hourly
    DROP COLUMN IF EXISTS requests_limited;
ALTER TABLE invitegate.membership_events
    DROP COLUMN IF EXISTS limit_hit;
ALTER TABLE invitegate.invite_events
    DROP COLUMN IF EXISTS limit_hit;
