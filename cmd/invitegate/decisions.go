package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/invitegate/invitegate/projector"
)

// maxDecisionID bounds --member, --operator and --group (IM's account and
// group ids are far shorter).
const maxDecisionID = 256

// decision is one row of invitegate.decisions.
type decision struct {
	ReceivedAt      time.Time       `json:"received_at"`
	EventID         string          `json:"event_id"`
	App             string          `json:"app"`
	GroupID         string          `json:"group_id"`
	GroupType       string          `json:"group_type"`
	Operator        string          `json:"operator"`
	Member          string          `json:"member"`
	Outcome         string          `json:"outcome"`
	Rule            *string         `json:"rule"`
	ErrorCode       int64           `json:"error_code"`
	FailMode        bool            `json:"fail_mode"`
	Shadow          json.RawMessage `json:"shadow"`
	PolicyRevision  int64           `json:"policy_revision"`
	PolicyAuthor    *string         `json:"policy_author"`
	PolicyReason    *string         `json:"policy_reason"`
	PolicyChangedAt *time.Time      `json:"policy_changed_at"`
}

const decisionsSQL = `
SELECT received_at, event_id::text, app, group_id, group_type, operator, member, outcome, rule, error_code,
	fail_mode, shadow, policy_revision, policy_author, policy_reason, policy_changed_at
FROM invitegate.decisions(p_member => $1, p_operator => $2, p_from => $3, p_to => $4, p_group => $5)
LIMIT $6`

type decisionsOptions struct {
	dsn                     string
	member, operator, group string
	since                   time.Duration
	limit                   int
	json                    bool
}

// cmdDecisions answers "why was this refused?" from invitegate.decisions.
func cmdDecisions(ctx context.Context, e env, args []string) error {
	var o decisionsOptions
	f := newFlags("decisions", "invitegate decisions --member ID | --operator ID [flags]",
		"Why was this refused? Lists the decisions of the last --since for a member (To_Account), or\n"+
			"an operator's invites, newest first: the member's outcome (allowed, refused, rejected), the\n"+
			"rule, and the policy revision that decided with its author (invitegate.decisions).", e.getenv)
	f.String(&o.dsn, "database-url", projector.DefaultDatabaseURL, "PostgreSQL URL (read-only access is enough, e.g. a member of invitegate_analyst)")
	f.String(&o.member, "member", "", "the invited member to look up")
	f.String(&o.operator, "operator", "", "the inviter to look up (with --member: only this inviter's invites of the member)")
	f.String(&o.group, "group", "", "only invites into this group")
	f.Duration(&o.since, "since", 24*time.Hour, "how far back to look")
	f.Int(&o.limit, "limit", 1000, "most rows to print (1 to 100000)")
	f.Bool(&o.json, "json", false, "one JSON object per line instead of a table")
	if _, err := parseFlags(f, args, e); err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	rows, err := o.query(ctx, time.Now())
	if err != nil {
		return err
	}
	if o.json {
		return writeDecisionsJSON(e.stdout, rows)
	}
	writeDecisionsTable(e.stdout, rows)
	if len(rows) == o.limit {
		fmt.Fprintf(e.stderr, "invitegate decisions: the first %d rows; narrow --since or raise --limit for more\n", o.limit)
	}
	return nil
}

func (o *decisionsOptions) validate() error {
	switch {
	case o.member == "" && o.operator == "":
		return usagef("give --member or --operator")
	case len(o.member) > maxDecisionID || len(o.operator) > maxDecisionID || len(o.group) > maxDecisionID:
		return usagef("--member, --operator and --group are at most %d bytes", maxDecisionID)
	case o.since <= 0:
		return usagef("--since %s: want a positive duration", o.since)
	case o.limit < 1 || o.limit > 100_000:
		return usagef("--limit %d: want 1 to 100000", o.limit)
	}
	return nil
}

func (o *decisionsOptions) query(ctx context.Context, now time.Time) ([]decision, error) {
	conn, err := pgx.Connect(ctx, o.dsn)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, decisionsSQL, orNull(o.member), orNull(o.operator), now.Add(-o.since), now,
		orNull(o.group), o.limit)
	if err != nil {
		return nil, fmt.Errorf("query decisions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (decision, error) {
		var d decision
		var shadow []byte
		err := r.Scan(&d.ReceivedAt, &d.EventID, &d.App, &d.GroupID, &d.GroupType, &d.Operator, &d.Member,
			&d.Outcome, &d.Rule, &d.ErrorCode, &d.FailMode, &shadow, &d.PolicyRevision, &d.PolicyAuthor,
			&d.PolicyReason, &d.PolicyChangedAt)
		if shadow != nil {
			d.Shadow = shadow
		}
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("query decisions: %w", err)
	}
	return out, nil
}

// orNull is nil for "", so that the function ignores the argument.
func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func writeDecisionsJSON(w io.Writer, rows []decision) error {
	enc := json.NewEncoder(w)
	for i := range rows {
		if err := enc.Encode(&rows[i]); err != nil {
			return fmt.Errorf("write decisions: %w", err)
		}
	}
	return nil
}

func writeDecisionsTable(w io.Writer, rows []decision) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECEIVED (UTC)\tMEMBER\tOUTCOME\tRULE\tOPERATOR\tGROUP\tAPP\tREVISION\tAUTHOR\tREASON")
	for _, d := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ReceivedAt.UTC().Format("2006-01-02 15:04:05.000"),
			d.Member, d.Outcome, deref(d.Rule, "-"), d.Operator, d.GroupID, d.App, d.PolicyRevision,
			deref(d.PolicyAuthor, "-"), deref(d.PolicyReason, ""))
	}
	_ = tw.Flush()
	if len(rows) == 0 {
		fmt.Fprintln(w, "no decisions")
	}
}

func deref(s *string, none string) string {
	if s == nil || *s == "" {
		return none
	}
	return *s
}
