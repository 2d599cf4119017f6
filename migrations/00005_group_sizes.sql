-- invitegate schema, part 5: group sizes (stats.group_size) kept for good.
--
-- The stats aggregator counts a group's size from membership callbacks and
-- allowed invites. It stores the size here so that it survives restarts,
-- covers more than the event stream's history, and lets an idle group
-- leave the aggregator's memory: the group's next event loads it again.
-- stream_seq is the INVITEGATE_EVENTS sequence the size covers: every
-- event at or before it is counted, so an aggregator reading the stream
-- again skips those, and a write never replaces a size covering more.
--
--   SELECT group_id, size FROM invitegate.group_sizes
--   WHERE app = '1400000000' ORDER BY size DESC LIMIT 20;

-- +goose Up
CREATE TABLE invitegate.group_sizes (
    app        text        NOT NULL,   -- SDKAppID
    group_id   text        NOT NULL,
    size       bigint      NOT NULL,   -- members now in the group, as far as the events tell
    stream_seq bigint      NOT NULL,   -- the INVITEGATE_EVENTS sequence the size covers
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (app, group_id)
);

-- stats_counters (00004) now holds the top counters only.
COMMENT ON TABLE invitegate.stats_counters IS
    'The aggregator''s top counters: for each app and statistic, the 1,000 keys (--stats-top-keys) with the highest non-zero values, rewritten every 10 s; updated_at is when a row''s value last changed.';

-- +goose Down
COMMENT ON TABLE invitegate.stats_counters IS NULL;
DROP TABLE invitegate.group_sizes;
