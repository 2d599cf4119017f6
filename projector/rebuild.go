package projector

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// rebuildRollupsSQL recomputes every rollup from invite_events; it counts
// exactly what rollups.add counts.
var rebuildRollupsSQL = []string{
	`SET LOCAL work_mem = '256MB'`, // the aggregations have millions of groups
	`TRUNCATE invitegate.invite_rollup_hourly, invitegate.invite_rollup_rule_daily,
		invitegate.invite_rollup_operator_daily`,
	`INSERT INTO invitegate.invite_rollup_hourly (hour, app, group_type, platform, requests, requests_partial,
		requests_rejected, requests_fail_mode, members_invited, members_refused, members_rejected, requests_limited)
	SELECT date_trunc('hour', received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', app, group_type, platform,
		count(*), count(*) FILTER (WHERE outcome = 'partial'), count(*) FILTER (WHERE outcome = 'reject'),
		count(*) FILTER (WHERE fail_mode), sum(member_count), sum(refused_count),
		coalesce(sum(member_count) FILTER (WHERE outcome = 'reject'), 0),
		count(*) FILTER (WHERE limit_hit IS NOT NULL)
	FROM invitegate.invite_events
	GROUP BY 1, 2, 3, 4
	ORDER BY 1`,
	`INSERT INTO invitegate.invite_rollup_operator_daily (day, app, operator, requests, members_invited,
		members_refused, requests_rejected)
	SELECT (received_at AT TIME ZONE 'UTC')::date, app, operator, count(*), sum(member_count),
		sum(refused_count), count(*) FILTER (WHERE outcome = 'reject')
	FROM invitegate.invite_events
	GROUP BY 1, 2, 3
	ORDER BY 1`, // rows of a day together, as the projector writes them
	`INSERT INTO invitegate.invite_rollup_rule_daily (day, app, rule, mode, members_refused, requests_rejected)
	SELECT day, app, rule, mode, sum(refused), sum(rejected)
	FROM (
		SELECT (received_at AT TIME ZONE 'UTC')::date AS day, app, reject_rule AS rule, 'enforce' AS mode,
			0 AS refused, 1 AS rejected
		FROM invitegate.invite_events WHERE outcome = 'reject'
		UNION ALL
		SELECT (e.received_at AT TIME ZONE 'UTC')::date, e.app, r->>'rule', 'enforce', 1, 0
		FROM invitegate.invite_events e, jsonb_array_elements(e.refused) r
		WHERE e.refused IS NOT NULL
		UNION ALL
		SELECT (e.received_at AT TIME ZONE 'UTC')::date, e.app, s->>'rule', 'shadow',
			CASE WHEN s->>'kind' = 'refuse_member' THEN coalesce(jsonb_array_length(s->'members'), 0) ELSE 0 END,
			CASE WHEN s->>'kind' = 'reject' THEN 1 ELSE 0 END
		FROM invitegate.invite_events e, jsonb_array_elements(e.shadow) s
		WHERE e.shadow IS NOT NULL AND s->>'kind' IN ('reject', 'refuse_member')
	) x
	GROUP BY 1, 2, 3, 4`,
}

// RebuildRollups recomputes the rollup tables from invite_events in one
// transaction: for repairs (after rows were deleted by hand) and for bulk
// loads that bypass the projector. It locks the rollups while it runs, so
// Workers wait for it.
func RebuildRollups(ctx context.Context, pool *pgxpool.Pool) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, stmt := range rebuildRollupsSQL {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rebuild rollups: %w", err)
	}
	return nil
}
