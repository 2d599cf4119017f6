-- invitegate schema, part 2: rollups (read models) and the analyst views.
--
-- The projector adds each newly inserted invite event to these tables in the
-- same transaction as the event's rows (duplicates add nothing), so the
-- views answer from a few thousand rows instead of scanning millions of
-- events. Buckets are UTC: hour = date_trunc('hour', received_at), day = the
-- UTC date of received_at. fillfactor leaves room for HOT updates, since an
-- update never changes an indexed column.

-- +goose Up
CREATE TABLE invitegate.invite_rollup_hourly (
    hour               timestamptz NOT NULL,
    app                text        NOT NULL,
    group_type         text        NOT NULL,
    platform           text        NOT NULL,
    requests           bigint      NOT NULL,
    requests_partial   bigint      NOT NULL,
    requests_rejected  bigint      NOT NULL,
    requests_fail_mode bigint      NOT NULL,
    members_invited    bigint      NOT NULL,
    members_refused    bigint      NOT NULL,
    members_rejected   bigint      NOT NULL,
    PRIMARY KEY (hour, app, group_type, platform)
) WITH (fillfactor = 70);

CREATE TABLE invitegate.invite_rollup_rule_daily (
    day               date   NOT NULL,
    app               text   NOT NULL,
    rule              text   NOT NULL,
    mode              text   NOT NULL CHECK (mode IN ('enforce', 'shadow')),
    members_refused   bigint NOT NULL,
    requests_rejected bigint NOT NULL,
    PRIMARY KEY (day, app, rule, mode)
) WITH (fillfactor = 70);

CREATE TABLE invitegate.invite_rollup_operator_daily (
    day               date   NOT NULL,
    app               text   NOT NULL,
    operator          text   NOT NULL,
    requests          bigint NOT NULL,
    members_invited   bigint NOT NULL,
    members_refused   bigint NOT NULL,
    requests_rejected bigint NOT NULL,
    PRIMARY KEY (day, app, operator)
) WITH (fillfactor = 70);
-- A day's top inviters without reading the day's every row (hundreds of
-- thousands with many distinct inviters): LIMIT reads the index in order.
CREATE INDEX invite_rollup_operator_daily_top
    ON invitegate.invite_rollup_operator_daily (day, members_invited DESC);

-- Invite requests per hour.
--   requests           invite callbacks decided
--   members_invited    destination members in them (allowed or not)
--   members_refused    members refused one by one (outcome partial)
--   requests_rejected  callbacks rejected whole (outcome reject)
--   requests_partial   callbacks with some members refused
--   requests_fail_mode callbacks decided by --fail-mode (no policy loaded)
--   members_rejected   members of rejected callbacks
CREATE VIEW invitegate.invite_trends_hourly AS
SELECT hour, app, group_type, platform,
       requests, members_invited, members_refused, requests_rejected,
       requests_partial, requests_fail_mode, members_rejected
FROM invitegate.invite_rollup_hourly;

-- What each rule did per day. mode 'enforce': refusals and rejections that
-- happened; mode 'shadow': what a shadow rule would have done.
--   members_refused    members refused by this refuse_member rule
--   requests_rejected  callbacks rejected by this reject rule
CREATE VIEW invitegate.refusals_by_rule_daily AS
SELECT day, app, rule, mode, members_refused, requests_rejected
FROM invitegate.invite_rollup_rule_daily;

-- Per inviter (Operator_Account) per day.
CREATE VIEW invitegate.top_inviters_daily AS
SELECT day, app, operator, requests, members_invited, members_refused, requests_rejected
FROM invitegate.invite_rollup_operator_daily;

-- +goose Down
DROP VIEW invitegate.top_inviters_daily;
DROP VIEW invitegate.refusals_by_rule_daily;
DROP VIEW invitegate.invite_trends_hourly;
DROP TABLE invitegate.invite_rollup_operator_daily;
DROP TABLE invitegate.invite_rollup_rule_daily;
DROP TABLE invitegate.invite_rollup_hourly;
