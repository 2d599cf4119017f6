-- invitegate schema, part 1: one row per event, as the projector stores it.
-- Times are timestamptz (UTC). Strings IM did not send are '' (never NULL),
-- so that rollup keys and GROUP BY need no COALESCE.

-- +goose Up
CREATE SCHEMA IF NOT EXISTS invitegate;

-- One row per Group.CallbackBeforeInviteJoinGroup decision (event kind "invite").
CREATE TABLE invitegate.invite_events (
    event_id        uuid        PRIMARY KEY,          -- Event.ID (UUIDv7)
    schema_version  smallint    NOT NULL,             -- Event.Schema
    app             text        NOT NULL,             -- SDKAppID
    command         text        NOT NULL,
    group_id        text        NOT NULL,
    group_type      text        NOT NULL,
    operator        text        NOT NULL,             -- the inviter
    member_count    integer     NOT NULL,             -- len(Event.Members); the members are in invite_members
    refused_count   integer     NOT NULL,             -- len(Event.Refused)
    outcome         text        NOT NULL,             -- allow | partial | reject
    refused         jsonb,                            -- Event.Refused [{"member","rule"}]; NULL when none
    error_code      bigint      NOT NULL,
    error_info      text        NOT NULL,
    reject_rule     text        NOT NULL,             -- '' unless outcome = reject
    shadow          jsonb,                            -- Event.Shadow [{"rule","kind","members"}]; NULL when none
    policy_revision bigint      NOT NULL,
    fail_mode       boolean     NOT NULL,
    platform        text        NOT NULL,             -- OptPlatform as IM sent it
    client_ip       text        NOT NULL,
    event_time      timestamptz,                      -- IM's EventTime; NULL when IM sent none
    received_at     timestamptz NOT NULL,             -- when the ingress read the callback
    decided_at      timestamptz NOT NULL,
    stream_seq      bigint      NOT NULL,             -- JetStream sequence of the message that carried it
    projected_at    timestamptz NOT NULL DEFAULT now() -- start of the projector's transaction
);
-- UUIDv7 keys and received_at both grow with time, so a BRIN index is tiny
-- and lets time-range scans skip everything outside the range.
CREATE INDEX invite_events_received_at_brin ON invitegate.invite_events USING brin (received_at);

-- One row per destination member of an invite, in request order.
CREATE TABLE invitegate.invite_members (
    event_id    uuid        NOT NULL,                 -- invite_events.event_id
    position    integer     NOT NULL,                 -- 0-based index in DestinationMembers
    member      text        NOT NULL,
    refused     boolean     NOT NULL,                 -- refused individually (outcome partial)
    rule        text,                                 -- the refusing rule; NULL unless refused
    received_at timestamptz NOT NULL,                 -- copied from the event, for time-range scans
    PRIMARY KEY (event_id, position)
);
CREATE INDEX invite_members_received_at_brin ON invitegate.invite_members USING brin (received_at);

-- One row per Group.CallbackAfterNewMemberJoin / Group.CallbackAfterMemberExit.
-- Kept whole so that group sizes can be derived from it.
CREATE TABLE invitegate.membership_events (
    event_id       uuid        PRIMARY KEY,
    schema_version smallint    NOT NULL,
    kind           text        NOT NULL,              -- member_joined | member_exited
    app            text        NOT NULL,
    command        text        NOT NULL,
    group_id       text        NOT NULL,
    group_type     text        NOT NULL,
    operator       text        NOT NULL,
    members        text[]      NOT NULL,              -- NewMemberList / ExitMemberList
    change_type    text        NOT NULL,              -- JoinType (Apply, Invited) or ExitType (Kicked, Quit)
    platform       text        NOT NULL,
    client_ip      text        NOT NULL,
    event_time     timestamptz,
    received_at    timestamptz NOT NULL,
    decided_at     timestamptz NOT NULL,
    stream_seq     bigint      NOT NULL,
    projected_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX membership_events_received_at_brin ON invitegate.membership_events USING brin (received_at);
CREATE INDEX membership_events_group ON invitegate.membership_events (app, group_id, received_at);

-- What the projector could not store. A line that does not decode is
-- recorded at once (reason 'decode', terminated); a message that fails to
-- store for a data reason is recorded at each failed delivery (reason
-- 'store', terminated_at NULL while it is still retried) and terminated once
-- its deliveries reach the projector's MaxDeliver.
CREATE TABLE invitegate.dead_letters (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream          text        NOT NULL,
    stream_seq      bigint      NOT NULL,
    line            integer     NOT NULL,             -- 0-based NDJSON line; -1 for the whole message
    subject         text        NOT NULL,
    msg_id          text        NOT NULL,             -- Nats-Msg-Id (the batch id); '' when absent
    payload         bytea       NOT NULL,             -- the raw line, or the whole message for line -1
    reason          text        NOT NULL,             -- decode | store
    error           text        NOT NULL,
    deliveries      integer     NOT NULL,             -- the message's delivery count at the last failure
    first_failed_at timestamptz NOT NULL,
    last_failed_at  timestamptz NOT NULL,
    terminated_at   timestamptz,                      -- NULL while the message is still being retried
    UNIQUE (stream, stream_seq, line)
);
CREATE INDEX dead_letters_last_failed_at ON invitegate.dead_letters (last_failed_at);

-- +goose Down
DROP TABLE invitegate.dead_letters;
DROP TABLE invitegate.membership_events;
DROP TABLE invitegate.invite_members;
DROP TABLE invitegate.invite_events;
