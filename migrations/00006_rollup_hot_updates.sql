-- invitegate schema, part 6: rollup upserts without index maintenance.
--
-- invite_rollup_operator_daily_top indexed members_invited, which every
-- upsert of a rollup row changes, so no update of the table could be HOT:
-- each wrote a new heap tuple and an entry in both of its indexes. The
-- projector upserts about one operator row per invite, and that was a
-- quarter of its PostgreSQL time. Without the index every column an update
-- changes is unindexed and, with the table's fillfactor 70, updates are
-- HOT. A day's top inviters (top_inviters_daily ORDER BY members_invited
-- DESC LIMIT 20) are read through the primary key's (day, ...) prefix and a
-- top-N sort instead of in index order: see README, Performance, for the
-- time at 10 million events.

-- +goose Up
DROP INDEX invitegate.invite_rollup_operator_daily_top;

-- +goose Down
CREATE INDEX invite_rollup_operator_daily_top
    ON invitegate.invite_rollup_operator_daily (day, members_invited DESC);
