-- invitegate schema, part 4: traffic statistics (the feedback loop).
--
-- invite_events.stats: the statistics the rules read for a decision
-- (decider.Event.Stats), e.g. [{"stat":"operator_invites_1h","key":"alice","value":201}],
-- so analysts can see why a rule fired:
--
--   SELECT e.event_id, e.reject_rule, s->>'stat' AS stat, (s->>'value')::bigint AS value
--   FROM invitegate.invite_events e, jsonb_array_elements(e.stats) s
--   WHERE e.reject_rule = 'flood';
--
-- stats_counters: the current value of every non-zero counter, as the stats
-- aggregator last published it (a row is deleted when its value falls to
-- 0). top_counters ranks them per app and statistic:
--
--   SELECT * FROM invitegate.top_counters
--   WHERE stat = 'operator_invites_1h' AND rank <= 20 ORDER BY app, rank;

-- +goose Up
ALTER TABLE invitegate.invite_events ADD COLUMN stats jsonb;

CREATE TABLE invitegate.stats_counters (
    app        text        NOT NULL,   -- SDKAppID
    stat       text        NOT NULL,   -- operator_invites_1h, member_invited_1h, group_size, ...
    key        text        NOT NULL,   -- the operator, member or group id the statistic counts
    value      bigint      NOT NULL,
    updated_at timestamptz NOT NULL,   -- when the aggregator last wrote it
    PRIMARY KEY (app, stat, key)
);
CREATE INDEX stats_counters_top ON invitegate.stats_counters (app, stat, value DESC);

CREATE VIEW invitegate.top_counters AS
SELECT app, stat, key, value, updated_at,
       rank() OVER (PARTITION BY app, stat ORDER BY value DESC) AS rank
FROM invitegate.stats_counters;

-- +goose Down
DROP VIEW invitegate.top_counters;
DROP TABLE invitegate.stats_counters;
ALTER TABLE invitegate.invite_events DROP COLUMN stats;
