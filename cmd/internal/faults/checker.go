package faults

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/invitegate/invitegate/cmd/internal/loadgen"
)

// Result is the checker's verdict on a set of requests, in the manner of
// Jepsen's set checker. Requests are loadgen Records; rows are looked up by
// GroupId, which loadgen makes unique per request (it ends in ".<run>.<seq>").
type Result struct {
	// Attempted requests were sent; Answered got a valid answer (IM took it).
	Attempted, Answered int
	// Stored answered requests have their row in PostgreSQL.
	Stored int
	// Lost answered requests have no row: the promise broken.
	Lost int
	// Duplicated requests have more than one row.
	Duplicated int
	// Unexpected rows contradict the answer given (outcome, error code,
	// operator, member counts, kind) or belong to no request of these runs.
	Unexpected int

	// Unanswered counts requests without a valid answer, by loadgen error kind.
	Unanswered map[string]int
	// Recovered unanswered requests were stored anyway (indeterminate in
	// Jepsen's terms: allowed, since the service may have decided before
	// the connection broke).
	Recovered int
	// Foreign rows look like a run's but carry no request key (a GroupId
	// with more dots); rows of other runs are not even read.
	Foreign int
	// Examples name up to 10 faulty keys with the reason.
	Examples []string
}

// Line is the checker line every scenario prints.
func (r Result) Line(scenario string) string {
	return fmt.Sprintf("faults: %s: attempted=%d answered=%d stored=%d lost=%d duplicated=%d unexpected=%d",
		scenario, r.Attempted, r.Answered, r.Stored, r.Lost, r.Duplicated, r.Unexpected)
}

// UnansweredTotal is Attempted - Answered.
func (r Result) UnansweredTotal() int { return r.Attempted - r.Answered }

// Detail is a second line with what Line leaves out.
func (r Result) Detail() string {
	kinds := make([]string, 0, len(r.Unanswered))
	for _, k := range slices.Sorted(maps.Keys(r.Unanswered)) {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, r.Unanswered[k]))
	}
	return fmt.Sprintf("unanswered=%d [%s] recovered=%d foreign=%d examples=%q",
		r.UnansweredTotal(), strings.Join(kinds, " "), r.Recovered, r.Foreign, r.Examples)
}

// row is one stored event, reduced to what the checker compares.
type row struct {
	groupID  string
	kind     string // invite, member_joined, member_exited
	operator string
	outcome  string // invites only
	code     int64
	members  int
	refused  int
}

// Check reads the invite and membership rows of the runs of records (the
// run is the GroupId's second dot-separated part) from the database at dsn
// and judges records against them.
func Check(ctx context.Context, dsn string, records []loadgen.Record) (Result, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return Result{}, fmt.Errorf("check: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	runs := map[string]bool{}
	for i := range records {
		runs[runOf(records[i].Key)] = true
	}
	rows, err := readRows(ctx, conn, slices.Collect(maps.Keys(runs)))
	if err != nil {
		return Result{}, err
	}
	return judge(records, rows), nil
}

func readRows(ctx context.Context, conn *pgx.Conn, runs []string) ([]row, error) {
	const q = `
SELECT group_id, 'invite', operator, outcome, error_code, member_count, refused_count
FROM invitegate.invite_events WHERE split_part(group_id, '.', 2) = ANY($1)
UNION ALL
SELECT group_id, kind, operator, '', 0, cardinality(members), 0
FROM invitegate.membership_events WHERE split_part(group_id, '.', 2) = ANY($1)`
	rs, err := conn.Query(ctx, q, runs)
	if err != nil {
		return nil, fmt.Errorf("check: read rows: %w", err)
	}
	out, err := pgx.CollectRows(rs, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.groupID, &x.kind, &x.operator, &x.outcome, &x.code, &x.members, &x.refused)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("check: read rows: %w", err)
	}
	return out, nil
}

// RecordKey is the request key at the end of a loadgen GroupId
// ("@TGS#g12.<run>.<seq>" -> "<run>.<seq>"), or "" when there is none.
func RecordKey(groupID string) string {
	i := strings.IndexByte(groupID, '.')
	if i < 0 || strings.Count(groupID[i+1:], ".") != 1 {
		return ""
	}
	return groupID[i+1:]
}

// runOf is the run id of a key ("<run>.<seq>" -> "<run>").
func runOf(key string) string { return key[:strings.LastIndexByte(key, '.')] }
