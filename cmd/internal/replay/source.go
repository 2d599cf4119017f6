package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// columns are the fields of each replayed row, in order. limit_hit comes
// second so that a row the policy did not decide is skipped before the
// rest is read.
var columns = []string{
	"e.event_id", "e.limit_hit", "e.app", "e.group_id", "e.group_type", "e.operator", membersColumn,
	"e.platform", "e.client_ip", "e.event_time", "e.received_at",
	"e.outcome", "e.reject_rule", "e.error_code", "e.refused",
	"e.stats", "e.stats_unread", "e.stats_known",
}

const membersColumn = "e.members"

// oldMembers reads the members of a row stored before invite_events.members
// existed from invite_members. A sub-select in the target list costs
// PostgreSQL about as much CPU as the rest of the row even when COALESCE
// never runs it, so rows with and without members are read by two COPYs.
const oldMembers = `ARRAY(SELECT m.member FROM invitegate.invite_members m
	WHERE m.event_id = e.event_id AND m.received_at = e.received_at ORDER BY m.position)`

// appRE is what an app filter may hold (SDKAppIDs are digits): the filter
// is written into the COPY statement, which takes no parameters.
var appRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// ValidApp reports whether app may be used as Config.App.
func ValidApp(app string) bool { return appRE.MatchString(app) }

func where(c *Config) string {
	w := fmt.Sprintf("e.received_at >= '%s' AND e.received_at < '%s'",
		c.Since.UTC().Format(time.RFC3339Nano), c.Until.UTC().Format(time.RFC3339Nano))
	if c.App != "" {
		w += fmt.Sprintf(" AND e.app = '%s'", c.App)
	}
	return w
}

// copySQL returns the COPY statements of the window: rows with members,
// then rows without (stored before event schema 2).
func copySQL(c *Config) []string {
	cols := strings.Join(columns, ", ")
	return []string{
		fmt.Sprintf("COPY (SELECT %s FROM invitegate.invite_events e WHERE %s AND e.members IS NOT NULL) TO STDOUT (FORMAT binary)",
			cols, where(c)),
		fmt.Sprintf("COPY (SELECT %s FROM invitegate.invite_events e WHERE %s AND e.members IS NULL) TO STDOUT (FORMAT binary)",
			strings.Replace(cols, membersColumn, oldMembers, 1), where(c)),
	}
}

// estimateRows returns the planner's estimate of the rows in the window
// (for the progress bar; nothing is read).
func estimateRows(ctx context.Context, tx pgx.Tx, c *Config) (int64, error) {
	var plan []byte
	err := tx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) SELECT 1 FROM invitegate.invite_events e WHERE "+where(c)).Scan(&plan)
	if err != nil {
		return 0, fmt.Errorf("estimate rows: %w", err)
	}
	var out []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	if err := json.Unmarshal(plan, &out); err != nil || len(out) == 0 {
		return 0, fmt.Errorf("estimate rows: unexpected plan %.200s", plan)
	}
	return int64(out[0].Plan.Rows), nil
}
