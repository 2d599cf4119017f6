package projector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/invitegate/invitegate/decider"
)

// writeResult is what one committed batch changed.
type writeResult struct {
	inserted    map[string]int // new rows by event kind
	duplicates  int            // events skipped as already stored (or repeated in the batch)
	deadLetters map[string]int // dead letters written, by reason
	newest      time.Time      // the latest received_at of the batch's events
}

// writeBatch stores r in one transaction: events (duplicates skipped),
// members and rollups of the new invites, membership events, dead letters.
// It first copies the invites straight into invite_events, the cheapest
// way in; if one of them is stored already (a redelivery, or another
// projector racing for the same copy), that transaction fails on the
// primary key and writeBatch stores the batch again, skipping the stored
// ones.
func writeBatch(ctx context.Context, pool *pgxpool.Pool, r *batchRows) (writeResult, error) {
	res, err := writeBatchWith(ctx, pool, r, copyInvites)
	if isStoredEvent(err) {
		res, err = writeBatchWith(ctx, pool, r, insertNewInvites)
	}
	return res, err
}

// writeBatchWith is writeBatch with insert storing the invites and
// returning those that were not stored yet.
func writeBatchWith(ctx context.Context, pool *pgxpool.Pool, r *batchRows,
	insert func(context.Context, pgx.Tx, []*event) ([]*event, error)) (writeResult, error) {
	res := writeResult{inserted: map[string]int{}, deadLetters: map[string]int{}, duplicates: r.inBatchDups}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	var invites []*event
	if len(r.invites) > 0 {
		if invites, err = insert(ctx, tx, r.invites); err != nil {
			return res, err
		}
	}
	if len(invites) > 0 {
		if _, err := copyInto(ctx, tx, pgx.Identifier{"invitegate", "invite_members"}, memberColumns,
			memberCopy(invites)); err != nil {
			return res, fmt.Errorf("copy invite members: %w", err)
		}
	}
	memberships, err := insertMemberships(ctx, tx, r.memberships)
	if err != nil {
		return res, err
	}
	if err := sendTail(ctx, tx, r, invites); err != nil {
		return res, err
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	res.inserted[decider.KindInvite] = len(invites)
	res.duplicates += len(r.invites) - len(invites) + len(r.memberships)
	for kind, n := range memberships {
		res.inserted[kind] = n
		res.duplicates -= n
	}
	for _, dl := range r.bad {
		res.deadLetters[dl.reason]++
	}
	res.newest = r.newest()
	return res, nil
}

// copyInvites copies evs into invite_events. It fails, with a unique
// violation of the primary key, when one of them is stored already.
func copyInvites(ctx context.Context, tx pgx.Tx, evs []*event) ([]*event, error) {
	if _, err := copyInto(ctx, tx, pgx.Identifier{"invitegate", "invite_events"}, inviteColumns,
		inviteCopy(evs)); err != nil {
		return nil, fmt.Errorf("copy invite events: %w", err)
	}
	return evs, nil
}

// insertNewInvites copies evs into the session's staging table, inserts
// them from there with ON CONFLICT (event_id) DO NOTHING, and returns
// those that were not stored yet.
func insertNewInvites(ctx context.Context, tx pgx.Tx, evs []*event) ([]*event, error) {
	if _, err := tx.Exec(ctx, createInviteStagingSQL); err != nil {
		return nil, fmt.Errorf("create staging table: %w", err)
	}
	if _, err := copyInto(ctx, tx, pgx.Identifier{"pg_temp", "invite_events_staging"}, inviteColumns,
		inviteCopy(evs)); err != nil {
		return nil, fmt.Errorf("copy invite events to staging: %w", err)
	}
	rows, err := tx.Query(ctx, insertStagedInvitesSQL)
	if err != nil {
		return nil, fmt.Errorf("insert invite events: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[[16]byte])
	if err != nil {
		return nil, fmt.Errorf("insert invite events: %w", err)
	}
	if len(ids) == len(evs) {
		return evs, nil
	}
	fresh := make(map[[16]byte]struct{}, len(ids))
	for _, id := range ids {
		fresh[id] = struct{}{}
	}
	out := make([]*event, 0, len(ids))
	for _, ev := range evs {
		if _, ok := fresh[ev.id]; ok {
			out = append(out, ev)
		}
	}
	return out, nil
}

// insertMemberships inserts evs and counts the new rows by kind.
func insertMemberships(ctx context.Context, tx pgx.Tx, evs []*event) (map[string]int, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	rows, err := tx.Query(ctx, insertMembershipsSQL+" RETURNING kind", append(membershipColumns(evs), time.Time{})...)
	if err != nil {
		return nil, fmt.Errorf("insert membership events: %w", err)
	}
	kinds, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("insert membership events: %w", err)
	}
	counts := map[string]int{}
	for _, k := range kinds {
		counts[k]++
	}
	return counts, nil
}

// sendTail sends, in one round trip, the rollup increments of the new
// invites (tables in a fixed order, keys sorted, so that concurrent
// transactions lock rollup rows in the same order), the dead letters of bad
// lines, and the clearing of stale dead letters of redelivered messages.
func sendTail(ctx context.Context, tx pgx.Tx, r *batchRows, invites []*event) error {
	b := &pgx.Batch{}
	if len(invites) > 0 {
		ru := newRollups()
		for _, ev := range invites {
			ru.add(&ev.Event)
		}
		// Operators first: concurrent batches rarely share an operator
		// row, while every batch of the hour updates the same hourly rows,
		// which stay locked until the commit.
		b.Queue(upsertOperatorsSQL, ru.operatorColumns()...)
		b.Queue(upsertRulesSQL, ru.ruleColumns()...)
		b.Queue(upsertHourlySQL, ru.hourlyColumns()...)
	}
	for i := range r.bad {
		r.bad[i].queue(b)
	}
	if len(r.redelivered) > 0 {
		b.Queue(clearRetriedSQL, r.stream, r.redelivered)
	}
	if b.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("update rollups and dead letters: %w", err)
	}
	return nil
}

// writeDeadLetter stores one dead letter in its own transaction.
func writeDeadLetter(ctx context.Context, pool *pgxpool.Pool, dl deadLetter) error {
	b := &pgx.Batch{}
	dl.queue(b)
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("write dead letter: %w", err)
	}
	return nil
}

func (r *batchRows) newest() time.Time {
	var t time.Time
	for _, evs := range [][]*event{r.invites, r.memberships} {
		for _, ev := range evs {
			if ev.ReceivedAt.After(t) {
				t = ev.ReceivedAt
			}
		}
	}
	return t
}

// isStoredEvent reports whether err is a copy into invite_events meeting
// an event that is stored already.
func isStoredEvent(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && // unique_violation
		pgErr.ConstraintName == "invite_events_pkey"
}

// isDataError reports whether err is PostgreSQL refusing the data itself
// (data exception, integrity violation, program limit such as an index row
// too large): retrying the same rows cannot help. Anything else (connection
// lost, deadlock, serialization failure, missing table, shutdown) is
// transient and retried in-process.
func isDataError(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) < 2 {
		return false
	}
	switch pgErr.Code[:2] {
	case "22", "23", "54":
		return true
	}
	return false
}
