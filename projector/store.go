package projector

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
// ones. What the transaction sends is built before it begins, so that it
// holds its locks only while PostgreSQL works. Before it, the partitions
// of the batch's days are created if parts does not know them.
func writeBatch(ctx context.Context, pool *pgxpool.Pool, parts *partitions, r *batchRows) (writeResult, error) {
	if err := parts.ensure(ctx, pool, r); err != nil {
		return writeResult{}, err
	}
	w := newInviteWrites(r.invites)
	res, err := writeBatchWith(ctx, pool, r, w, copyInvites)
	if isStoredEvent(err) {
		res, err = writeBatchWith(ctx, pool, r, w, insertNewInvites)
	}
	if isNoPartition(err) {
		// A partition parts knew was dropped (retention, by hand): not the
		// data's fault. Forget, and let the retry create it again.
		parts.forget()
		return res, fmt.Errorf("write batch: a partition was dropped meanwhile: %s", err.Error())
	}
	return res, err
}

// inviteWrites is what a transaction sends for the new invites of a
// batch, and the COPY data of all its invites.
type inviteWrites struct {
	invites []*event // the new invites
	events  []byte   // COPY data of all the batch's invites
	members []byte   // COPY data of the new invites' members
	rollups []queued // upserts of the new invites' rollups
}

// queued is a statement with its arguments, for a pgx.Batch.
type queued struct {
	sql  string
	args []any
}

// newInviteWrites prepares the writes of invites, all new.
func newInviteWrites(invites []*event) *inviteWrites {
	if len(invites) == 0 {
		return &inviteWrites{}
	}
	return freshWrites(invites, inviteCopy(invites))
}

// onlyNew returns w for the new invites among its own; its event data
// stays that of all.
func (w *inviteWrites) onlyNew(fresh []*event) *inviteWrites {
	if len(fresh) == len(w.invites) {
		return w
	}
	return freshWrites(fresh, w.events)
}

// freshWrites prepares the members and rollups of invites, all new, beside
// events, the COPY data of all the batch's invites.
func freshWrites(invites []*event, events []byte) *inviteWrites {
	w := &inviteWrites{invites: invites, events: events}
	if len(invites) == 0 {
		return w
	}
	w.members = memberCopy(invites)
	ru := newRollups()
	for _, ev := range invites {
		ru.add(&ev.Event)
	}
	// Tables in a fixed order and keys sorted, so that concurrent
	// transactions lock rollup rows in the same order. Operators first:
	// concurrent batches rarely share an operator row, while every batch
	// of the hour updates the same hourly rows, which stay locked until
	// the commit.
	w.rollups = []queued{{upsertOperatorsSQL, ru.operatorColumns()}, {upsertRulesSQL, ru.ruleColumns()},
		{upsertHourlySQL, ru.hourlyColumns()}}
	return w
}

// writeBatchWith is writeBatch with insert storing the invites of w and
// returning those that were not stored yet.
func writeBatchWith(ctx context.Context, pool *pgxpool.Pool, r *batchRows, w *inviteWrites,
	insert func(context.Context, pgx.Tx, *inviteWrites) ([]*event, error)) (writeResult, error) {
	res := writeResult{inserted: map[string]int{}, deadLetters: map[string]int{}, duplicates: r.inBatchDups}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if len(w.invites) > 0 {
		fresh, err := insert(ctx, tx, w)
		if err != nil {
			return res, err
		}
		w = w.onlyNew(fresh)
	}
	if len(w.invites) > 0 {
		if err := copyInto(ctx, tx, pgx.Identifier{"invitegate", "invite_members"}, memberColumns, w.members); err != nil {
			return res, fmt.Errorf("copy invite members: %w", err)
		}
	}
	memberships, err := insertMemberships(ctx, tx, r.memberships)
	if err != nil {
		return res, err
	}
	if err := sendTail(ctx, tx, r, w); err != nil {
		return res, err
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	res.inserted[decider.KindInvite] = len(w.invites)
	res.duplicates += len(r.invites) - len(w.invites) + len(r.memberships)
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

// copyInvites copies w's invites into invite_events. It fails, with a
// unique violation of the primary key, when one of them is stored already.
func copyInvites(ctx context.Context, tx pgx.Tx, w *inviteWrites) ([]*event, error) {
	if err := copyInto(ctx, tx, pgx.Identifier{"invitegate", "invite_events"}, inviteColumns, w.events); err != nil {
		return nil, fmt.Errorf("copy invite events: %w", err)
	}
	return w.invites, nil
}

// insertNewInvites copies w's invites into the session's staging table,
// inserts them from there with ON CONFLICT (event_id, received_at) DO NOTHING, and
// returns those that were not stored yet.
func insertNewInvites(ctx context.Context, tx pgx.Tx, w *inviteWrites) ([]*event, error) {
	if _, err := tx.Exec(ctx, createInviteStagingSQL); err != nil {
		return nil, fmt.Errorf("create staging table: %w", err)
	}
	if err := copyInto(ctx, tx, pgx.Identifier{"pg_temp", "invite_events_staging"}, inviteColumns, w.events); err != nil {
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
	fresh := make(map[[16]byte]struct{}, len(ids))
	for _, id := range ids {
		fresh[id] = struct{}{}
	}
	out := make([]*event, 0, len(ids))
	for _, ev := range w.invites {
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

// sendTail sends, in one round trip, the rollup upserts of w, the dead
// letters of bad lines, and the clearing of stale dead letters of
// redelivered messages.
func sendTail(ctx context.Context, tx pgx.Tx, r *batchRows, w *inviteWrites) error {
	b := &pgx.Batch{}
	for _, q := range w.rollups { // none without new invites
		b.Queue(q.sql, q.args...)
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
// an event that is stored already: a unique violation of the primary key
// of one of its partitions (invite_events_pYYYYMMDD_pkey).
func isStoredEvent(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && // unique_violation
		strings.HasPrefix(pgErr.ConstraintName, "invite_events_") && strings.HasSuffix(pgErr.ConstraintName, "_pkey")
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
