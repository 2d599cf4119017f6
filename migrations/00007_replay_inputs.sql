-- invitegate schema, part 7: what a replay needs, in the invite row itself.
--
-- `invitegate policy replay` decides every recorded invite again with a
-- candidate policy, from the inputs the original decision saw. Every input
-- but two was already a column; this adds them (event schema 2):
--
-- members: DestinationMembers in request order (as invite_members holds
--   them one per row), so that a replay reads one table in one scan. NULL
--   in rows stored before this migration: read invite_members for those.
-- stats_unread: the non-zero values of the statistics the policy reads that
--   the rules did not need for this request (&& and || stop early; a
--   rejected request judges no member), [{"stat","key","value"}] like
--   stats; NULL when none.
-- stats_known: the names of the statistics the policy in force reads; any
--   of them for a key absent from stats and stats_unread was 0. NULL when
--   the policy reads none (or the row predates schema 2).
--
-- ADD COLUMN without a default rewrites nothing, and on a partitioned table
-- reaches every partition.
--
--   SELECT event_id, operator, members, stats, stats_unread
--   FROM invitegate.invite_events
--   WHERE received_at > now() - interval '1 hour' AND stats_known IS NOT NULL;

-- +goose Up
ALTER TABLE invitegate.invite_events
    ADD COLUMN IF NOT EXISTS members      text[],
    ADD COLUMN IF NOT EXISTS stats_unread jsonb,
    ADD COLUMN IF NOT EXISTS stats_known  text[];

-- +goose Down
ALTER TABLE invitegate.invite_events
    DROP COLUMN IF EXISTS stats_known,
    DROP COLUMN IF EXISTS stats_unread,
    DROP COLUMN IF EXISTS members;
