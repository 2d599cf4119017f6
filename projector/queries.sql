-- The documented analyst queries (README "Querying invite trends"). Each
-- reads a view over the rollups, so it answers in milliseconds whatever the
-- number of events. Buckets are UTC. Add "AND app = '<SDKAppID>'" to a
-- WHERE clause to look at one app.

-- name: last-day-by-hour
-- Invites over the last 24 hours, one row per hour.
SELECT hour,
       sum(requests)          AS requests,
       sum(members_invited)   AS members_invited,
       sum(members_refused)   AS members_refused,
       sum(requests_rejected) AS requests_rejected
FROM invitegate.invite_trends_hourly
WHERE hour >= date_trunc('hour', now()) - interval '23 hours'
GROUP BY hour
ORDER BY hour;

-- name: thirty-days-by-day
-- Invites over the last 30 days, one row per UTC day.
SELECT (hour AT TIME ZONE 'UTC')::date AS day,
       sum(requests)          AS requests,
       sum(members_invited)   AS members_invited,
       sum(members_refused)   AS members_refused,
       sum(requests_rejected) AS requests_rejected
FROM invitegate.invite_trends_hourly
WHERE hour >= (date_trunc('day', now() AT TIME ZONE 'UTC') - interval '29 days') AT TIME ZONE 'UTC'
GROUP BY day
ORDER BY day;

-- name: top-inviters
-- Yesterday's (UTC) 20 inviters who invited the most members.
SELECT app, operator, requests, members_invited, members_refused, requests_rejected
FROM invitegate.top_inviters_daily
WHERE day = (now() AT TIME ZONE 'UTC')::date - 1
ORDER BY members_invited DESC
LIMIT 20;

-- name: refusals-by-rule
-- What each rule refused or rejected over the last 30 days, enforced and shadow.
SELECT rule, mode,
       sum(members_refused)   AS members_refused,
       sum(requests_rejected) AS requests_rejected
FROM invitegate.refusals_by_rule_daily
WHERE day > (now() AT TIME ZONE 'UTC')::date - 30
GROUP BY rule, mode
ORDER BY sum(members_refused) + sum(requests_rejected) DESC, rule, mode;
