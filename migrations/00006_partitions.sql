-- invitegate schema, part 6: history that scales and expires, the analyst
-- role, and "why was this refused?".
--
-- invite_events, invite_members and membership_events become partitioned by
-- range of received_at (native partitioning): one partition per UTC day,
-- named <table>_pYYYYMMDD. A conversion puts the rows older than the
-- current UTC month into one partition per month (so that converting a
-- long history takes a bounded number of locks); from the current month on,
-- partitions are daily. The projector creates the partitions ahead
-- (create_daily_partitions) and, with --retention, drops whole partitions
-- past it (each detached concurrently, then dropped; drop_partitions does
-- the same by hand): never a DELETE. The rollups are not partitioned and
-- are kept.
--
-- A primary key of a partitioned table must hold the partition key, so
-- invite_events and membership_events are unique on (event_id,
-- received_at) and invite_members on (event_id, position, received_at).
-- Every copy of an event carries the received_at the ingress gave it (an
-- event's id and time never change), so the key still skips every
-- redelivered copy.
--
-- The conversion copies every row inside the migration's transaction (about
-- 45 s per million invites with their members on a loaded 2-core machine:
-- projector/README.md, "Measured (analytics)"): the projector waits for it,
-- nothing is lost.
--
--   SELECT * FROM invitegate.partitions ORDER BY parent, from_time;
--   SELECT * FROM invitegate.decisions(p_member => 'jared', p_from => now() - interval '7 days');

-- +goose Up
-- +goose StatementBegin
-- The read-only role of analysts and dashboards. Roles belong to the whole
-- server: another database may have created it. A user without CREATEROLE
-- (some managed services) gets a warning; create the role by hand and run
-- the GRANTs of this file again.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'invitegate_analyst') THEN
        BEGIN
            CREATE ROLE invitegate_analyst NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL; -- created meanwhile
            WHEN insufficient_privilege THEN
                RAISE WARNING 'cannot create role invitegate_analyst: %', SQLERRM;
        END;
    END IF;
END $$;
-- +goose StatementEnd

ALTER TABLE invitegate.invite_events RENAME TO invite_events_unpartitioned;
ALTER TABLE invitegate.invite_events_unpartitioned RENAME CONSTRAINT invite_events_pkey TO invite_events_unpartitioned_pkey;
ALTER INDEX invitegate.invite_events_received_at_brin RENAME TO invite_events_unpartitioned_brin;
ALTER TABLE invitegate.invite_members RENAME TO invite_members_unpartitioned;
ALTER TABLE invitegate.invite_members_unpartitioned RENAME CONSTRAINT invite_members_pkey TO invite_members_unpartitioned_pkey;
ALTER INDEX invitegate.invite_members_received_at_brin RENAME TO invite_members_unpartitioned_brin;
ALTER TABLE invitegate.membership_events RENAME TO membership_events_unpartitioned;
ALTER TABLE invitegate.membership_events_unpartitioned RENAME CONSTRAINT membership_events_pkey TO membership_events_unpartitioned_pkey;
ALTER INDEX invitegate.membership_events_received_at_brin RENAME TO membership_events_unpartitioned_brin;
ALTER INDEX invitegate.membership_events_group RENAME TO membership_events_unpartitioned_group;

-- The same columns, in the same order (00001 and 00004).
CREATE TABLE invitegate.invite_events (LIKE invitegate.invite_events_unpartitioned INCLUDING DEFAULTS)
    PARTITION BY RANGE (received_at);
CREATE TABLE invitegate.invite_members (LIKE invitegate.invite_members_unpartitioned INCLUDING DEFAULTS)
    PARTITION BY RANGE (received_at);
CREATE TABLE invitegate.membership_events (LIKE invitegate.membership_events_unpartitioned INCLUDING DEFAULTS)
    PARTITION BY RANGE (received_at);

-- The partitions of the three tables, with the range each holds;
-- detach_pending: a DETACH ... CONCURRENTLY was interrupted (the projector
-- finishes it before dropping the partition).
CREATE VIEW invitegate.partitions AS
SELECT parent.relname AS parent,
       child.relname  AS partition,
       substring(pg_get_expr(child.relpartbound, child.oid) FROM 'FROM \(''([^'']+)''\)')::timestamptz AS from_time,
       substring(pg_get_expr(child.relpartbound, child.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz AS to_time,
       i.inhdetachpending AS detach_pending
FROM pg_inherits i
JOIN pg_class child ON child.oid = i.inhrelid
JOIN pg_class parent ON parent.oid = i.inhparent
JOIN pg_namespace n ON n.oid = parent.relnamespace
WHERE n.nspname = 'invitegate'
  AND parent.relname IN ('invite_events', 'invite_members', 'membership_events');

-- +goose StatementBegin
-- create_partition adds to parent the partition [from_time, to_time), named
-- parent_pYYYYMMDD after the UTC day of from_time, unless that name exists.
-- It creates the table and then attaches it, which locks the parent less
-- than CREATE TABLE ... PARTITION OF would (inserts and queries go on).
CREATE FUNCTION invitegate.create_partition(parent text, from_time timestamptz, to_time timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    name text := parent || '_p' || to_char(from_time AT TIME ZONE 'UTC', 'YYYYMMDD');
BEGIN
    IF parent NOT IN ('invite_events', 'invite_members', 'membership_events') THEN
        RAISE EXCEPTION 'create_partition: % is not a partitioned invitegate table', parent;
    END IF;
    IF to_regclass(format('invitegate.%I', name)) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('CREATE TABLE invitegate.%I (LIKE invitegate.%I INCLUDING DEFAULTS)', name, parent);
    EXECUTE format('ALTER TABLE invitegate.%I ATTACH PARTITION invitegate.%I FOR VALUES FROM (%L) TO (%L)',
        parent, name, from_time, to_time);
    RETURN name;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- create_daily_partitions makes sure that every UTC day from from_day to
-- to_day (both included) has a partition in each of the three tables: a
-- daily one unless a partition already holds the day. It returns the
-- partitions it created. Several projectors may call it at once.
CREATE FUNCTION invitegate.create_daily_partitions(from_day date, to_day date)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    d    date;
    tbl  text;
    made text;
BEGIN
    IF to_day - from_day > 366 THEN
        RAISE EXCEPTION 'create_daily_partitions: % to % is more than 366 days', from_day, to_day;
    END IF;
    FOR d IN SELECT g::date FROM generate_series(from_day, to_day, interval '1 day') AS g LOOP
        FOREACH tbl IN ARRAY ARRAY['invite_events', 'invite_members', 'membership_events'] LOOP
            CONTINUE WHEN EXISTS (SELECT FROM invitegate.partitions p
                WHERE p.parent = tbl
                  AND p.from_time <= d::timestamp AT TIME ZONE 'UTC'
                  AND p.to_time > d::timestamp AT TIME ZONE 'UTC');
            BEGIN
                made := invitegate.create_partition(tbl, d::timestamp AT TIME ZONE 'UTC',
                    (d + 1)::timestamp AT TIME ZONE 'UTC');
            EXCEPTION WHEN duplicate_table OR unique_violation THEN
                made := NULL; -- another session created it meanwhile
            END;
            IF made IS NOT NULL THEN
                RETURN NEXT made;
            END IF;
        END LOOP;
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- drop_partitions drops every partition whose whole range ends at or before
-- older_than, and returns their names. Rows go with their partition: no
-- DELETE, no vacuum debt. The rollups are untouched. It locks the tables
-- while it runs (DROP TABLE of a partition locks its parent); the
-- projector's --retention detaches each partition CONCURRENTLY first,
-- which does not.
CREATE FUNCTION invitegate.drop_partitions(older_than timestamptz)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT partition FROM invitegate.partitions WHERE to_time <= older_than ORDER BY to_time, partition LOOP
        EXECUTE format('DROP TABLE invitegate.%I', p.partition);
        RETURN NEXT p.partition;
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- The conversion: partitions for the rows there are (a month per partition
-- before the current UTC month, a day per partition from it on), the rows,
-- then the keys and indexes (building them after the copy is faster than
-- updating them row by row).
DO $$
DECLARE
    parent text;
    start  timestamp;
    month0 timestamp := date_trunc('month', now() AT TIME ZONE 'UTC');
BEGIN
    SET LOCAL maintenance_work_mem = '256MB';
    SET LOCAL work_mem = '64MB';
    FOREACH parent IN ARRAY ARRAY['invite_events', 'invite_members', 'membership_events'] LOOP
        FOR start IN EXECUTE format(
            'SELECT DISTINCT CASE WHEN t < $1 THEN date_trunc(''month'', t) ELSE date_trunc(''day'', t) END
             FROM (SELECT received_at AT TIME ZONE ''UTC'' AS t FROM invitegate.%I) x', parent || '_unpartitioned')
            USING month0
        LOOP
            PERFORM invitegate.create_partition(parent, start AT TIME ZONE 'UTC',
                (CASE WHEN start < month0 THEN start + interval '1 month' ELSE start + interval '1 day' END) AT TIME ZONE 'UTC');
        END LOOP;
    END LOOP;
    PERFORM invitegate.create_daily_partitions((now() AT TIME ZONE 'UTC')::date - 1, (now() AT TIME ZONE 'UTC')::date + 7);
    INSERT INTO invitegate.invite_events SELECT * FROM invitegate.invite_events_unpartitioned;
    INSERT INTO invitegate.invite_members SELECT * FROM invitegate.invite_members_unpartitioned;
    INSERT INTO invitegate.membership_events SELECT * FROM invitegate.membership_events_unpartitioned;
END $$;
-- +goose StatementEnd

DROP TABLE invitegate.invite_events_unpartitioned;
DROP TABLE invitegate.invite_members_unpartitioned;
DROP TABLE invitegate.membership_events_unpartitioned;

SET LOCAL maintenance_work_mem = '256MB';
ALTER TABLE invitegate.invite_events ADD PRIMARY KEY (event_id, received_at);
ALTER TABLE invitegate.invite_members ADD PRIMARY KEY (event_id, position, received_at);
ALTER TABLE invitegate.membership_events ADD PRIMARY KEY (event_id, received_at);
-- UUIDv7 keys and received_at grow with time: BRIN indexes are tiny and
-- let a time range skip the rest of a partition.
CREATE INDEX invite_events_received_at_brin ON invitegate.invite_events USING brin (received_at);
CREATE INDEX invite_members_received_at_brin ON invitegate.invite_members USING brin (received_at);
CREATE INDEX membership_events_received_at_brin ON invitegate.membership_events USING brin (received_at);
CREATE INDEX membership_events_group ON invitegate.membership_events (app, group_id, received_at);
-- The lookups by member and by operator (decisions below, the dashboard).
CREATE INDEX invite_members_member ON invitegate.invite_members (member, received_at);
CREATE INDEX invite_events_operator ON invitegate.invite_events (operator, received_at);
-- Statistics for the new partitions at once: without them, the lookups
-- below plan as if every partition were empty until autovacuum comes by.
ANALYZE invitegate.invite_events, invitegate.invite_members, invitegate.membership_events;

-- +goose StatementBegin
-- decisions answers "why was this refused?": one row per (invite, member)
-- decided between p_from (included) and p_to (excluded) for p_member, or
-- else p_operator's invites, or else p_group's; the other arguments, when
-- given, narrow the rows. None given: no rows. outcome is the member's:
-- 'allowed', 'refused' (an enforcing refuse_member rule) or 'rejected'
-- (the whole request, by a reject rule or --fail-mode closed); rule is the
-- rule that refused or rejected it. policy_revision is the revision that
-- decided (0: the file policy or fail mode) and policy_author,
-- policy_reason, policy_changed_at come from policy_revisions. shadow is
-- what shadow rules would have done. A member or an operator is found by
-- index; a group alone reads the whole window.
CREATE FUNCTION invitegate.decisions(
    p_member   text DEFAULT NULL,
    p_operator text DEFAULT NULL,
    p_from     timestamptz DEFAULT now() - interval '24 hours',
    p_to       timestamptz DEFAULT now(),
    p_group    text DEFAULT NULL)
RETURNS TABLE (
    received_at       timestamptz,
    event_id          uuid,
    app               text,
    group_id          text,
    group_type        text,
    operator          text,
    member            text,
    outcome           text,
    rule              text,
    error_code        bigint,
    fail_mode         boolean,
    shadow            jsonb,
    policy_revision   bigint,
    policy_author     text,
    policy_reason     text,
    policy_changed_at timestamptz)
-- A lookup reads a few index entries per partition: starting parallel
-- workers costs more than it saves (3 to 4 times the time, measured).
LANGUAGE plpgsql STABLE SET max_parallel_workers_per_gather = 0 AS $$
#variable_conflict use_column
BEGIN
    IF p_member IS NOT NULL THEN
        RETURN QUERY
        SELECT e.received_at, e.event_id, e.app, e.group_id, e.group_type, e.operator, m.member,
               CASE WHEN e.outcome = 'reject' THEN 'rejected' WHEN m.refused THEN 'refused' ELSE 'allowed' END,
               CASE WHEN e.outcome = 'reject' THEN e.reject_rule WHEN m.refused THEN m.rule END,
               e.error_code, e.fail_mode, e.shadow, e.policy_revision, p.author, p.reason, p.changed_at
        FROM invitegate.invite_members m
        JOIN invitegate.invite_events e ON e.event_id = m.event_id AND e.received_at = m.received_at
        LEFT JOIN invitegate.policy_revisions p ON p.revision = e.policy_revision
        WHERE m.member = p_member AND m.received_at >= p_from AND m.received_at < p_to
          AND (p_operator IS NULL OR e.operator = p_operator)
          AND (p_group IS NULL OR e.group_id = p_group)
        ORDER BY e.received_at DESC, e.event_id, m.position;
    ELSIF p_operator IS NOT NULL OR p_group IS NOT NULL THEN
        RETURN QUERY
        SELECT e.received_at, e.event_id, e.app, e.group_id, e.group_type, e.operator, m.member,
               CASE WHEN e.outcome = 'reject' THEN 'rejected' WHEN m.refused THEN 'refused' ELSE 'allowed' END,
               CASE WHEN e.outcome = 'reject' THEN e.reject_rule WHEN m.refused THEN m.rule END,
               e.error_code, e.fail_mode, e.shadow, e.policy_revision, p.author, p.reason, p.changed_at
        FROM invitegate.invite_events e
        JOIN invitegate.invite_members m ON m.event_id = e.event_id AND m.received_at = e.received_at
        LEFT JOIN invitegate.policy_revisions p ON p.revision = e.policy_revision
        WHERE (p_operator IS NULL OR e.operator = p_operator)
          AND (p_group IS NULL OR e.group_id = p_group)
          AND e.received_at >= p_from AND e.received_at < p_to
        ORDER BY e.received_at DESC, e.event_id, m.position;
    END IF;
END $$;
-- +goose StatementEnd

-- Partitions are the projector's business, not analysts'.
REVOKE EXECUTE ON FUNCTION invitegate.create_partition(text, timestamptz, timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION invitegate.create_daily_partitions(date, date) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION invitegate.drop_partitions(timestamptz) FROM PUBLIC;

COMMENT ON FUNCTION invitegate.decisions(text, text, timestamptz, timestamptz, text) IS
    'Why was this refused? One row per invite and member between p_from and p_to for p_member, or p_operator, or p_group: outcome (allowed, refused, rejected), rule, policy revision and its author.';

-- +goose StatementBegin
-- The analyst role reads everything in the schema, now and later (the
-- default privileges cover the partitions the projector creates), and
-- writes nothing.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'invitegate_analyst') THEN
        GRANT USAGE ON SCHEMA invitegate TO invitegate_analyst;
        GRANT SELECT ON ALL TABLES IN SCHEMA invitegate TO invitegate_analyst;
        ALTER DEFAULT PRIVILEGES IN SCHEMA invitegate GRANT SELECT ON TABLES TO invitegate_analyst;
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'invitegate_analyst') THEN
        ALTER DEFAULT PRIVILEGES IN SCHEMA invitegate REVOKE SELECT ON TABLES FROM invitegate_analyst;
        REVOKE SELECT ON ALL TABLES IN SCHEMA invitegate FROM invitegate_analyst;
        REVOKE USAGE ON SCHEMA invitegate FROM invitegate_analyst;
    END IF;
END $$;
-- +goose StatementEnd
DROP FUNCTION invitegate.decisions(text, text, timestamptz, timestamptz, text);

CREATE TABLE invitegate.invite_events_unpartitioned (LIKE invitegate.invite_events INCLUDING DEFAULTS);
CREATE TABLE invitegate.invite_members_unpartitioned (LIKE invitegate.invite_members INCLUDING DEFAULTS);
CREATE TABLE invitegate.membership_events_unpartitioned (LIKE invitegate.membership_events INCLUDING DEFAULTS);
INSERT INTO invitegate.invite_events_unpartitioned SELECT * FROM invitegate.invite_events;
INSERT INTO invitegate.invite_members_unpartitioned SELECT * FROM invitegate.invite_members;
INSERT INTO invitegate.membership_events_unpartitioned SELECT * FROM invitegate.membership_events;
DROP TABLE invitegate.invite_events;
DROP TABLE invitegate.invite_members;
DROP TABLE invitegate.membership_events;
DROP FUNCTION invitegate.drop_partitions(timestamptz);
DROP FUNCTION invitegate.create_daily_partitions(date, date);
DROP FUNCTION invitegate.create_partition(text, timestamptz, timestamptz);
DROP VIEW invitegate.partitions;
ALTER TABLE invitegate.invite_events_unpartitioned RENAME TO invite_events;
ALTER TABLE invitegate.invite_members_unpartitioned RENAME TO invite_members;
ALTER TABLE invitegate.membership_events_unpartitioned RENAME TO membership_events;
ALTER TABLE invitegate.invite_events ADD PRIMARY KEY (event_id);
ALTER TABLE invitegate.invite_members ADD PRIMARY KEY (event_id, position);
ALTER TABLE invitegate.membership_events ADD PRIMARY KEY (event_id);
CREATE INDEX invite_events_received_at_brin ON invitegate.invite_events USING brin (received_at);
CREATE INDEX invite_members_received_at_brin ON invitegate.invite_members USING brin (received_at);
CREATE INDEX membership_events_received_at_brin ON invitegate.membership_events USING brin (received_at);
CREATE INDEX membership_events_group ON invitegate.membership_events (app, group_id, received_at);
