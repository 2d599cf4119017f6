-- invitegate schema, part 3: the policy log (INVITEGATE_POLICY), one row per
-- event, so analysts can line decisions up with policy changes:
--
--   SELECT e.*, p.kind, p.author, p.changed_at
--   FROM invitegate.invite_events e
--   JOIN invitegate.policy_revisions p ON p.revision = e.policy_revision;
--
-- A decision's policy_revision is the revision of the last applied event of
-- its app: the policy it was decided with is the fold of the applied rows of
-- that app up to it (the last 'replaced' document plus the list changes).
-- Rejected events (applied = false) are kept: the log is an audit log.

-- +goose Up
CREATE TABLE invitegate.policy_revisions (
    revision      bigint      PRIMARY KEY,   -- stream sequence in INVITEGATE_POLICY
    app           text        NOT NULL,      -- SDKAppID (the subject's app token)
    kind          text        NOT NULL,      -- replaced | list.added | list.removed (the subject's kind)
    applied       boolean     NOT NULL,      -- false: every replica rejected it and kept the last good policy
    reject_reason text,                      -- malformed | invalid_policy | unknown_list | no_policy; NULL when applied
    problem       text,                      -- the rejection, precisely; NULL when applied
    author        text        NOT NULL DEFAULT '',
    reason        text        NOT NULL DEFAULT '',
    changed_at    timestamptz NOT NULL,      -- the event's "time", else stored_at
    stored_at     timestamptz NOT NULL,      -- when JetStream stored the event
    rollback_of   bigint,                    -- replaced by `policy rollback N`: N
    document      jsonb,                     -- replaced: the whole document as published
    list          text,                      -- list.*: the list
    ids           text[],                    -- list.*: the ids, as published
    id_count      integer     NOT NULL DEFAULT 0,
    projected_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX policy_revisions_app_revision ON invitegate.policy_revisions (app, revision);

-- +goose Down
DROP TABLE invitegate.policy_revisions;
