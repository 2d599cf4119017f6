package projector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// invite_events, invite_members and membership_events are partitioned by
// UTC day of received_at (migration 00006). The Worker keeps the partitions
// of today and Config.PartitionsAhead days ahead in place, creates the one
// a batch needs when its events fall on a day without one (an old event
// replayed, a clock far off), and, with Config.Retention, drops whole
// partitions past it.

// partitionLockTimeout bounds the wait for the lock that adding a
// partition takes on its table; past it the attempt fails and is retried
// (the next maintenance pass, or the batch's retry).
const partitionLockTimeout = "5s"

// retentionLockKey is the advisory lock a projector holds while it drops
// partitions ("invitegate retention").
const retentionLockKey int64 = 0x696e76_7265746e

const (
	createPartitionsSQL  = `SELECT invitegate.create_daily_partitions($1::date, $2::date)`
	expiredPartitionsSQL = `SELECT parent, partition, detach_pending FROM invitegate.partitions
		WHERE to_time <= $1 ORDER BY to_time, partition`
)

// partitions remembers the UTC days (as days since 1970-01-01) known to have
// a partition, so that a batch checks them without a round trip.
type partitions struct {
	mu    sync.Mutex
	known map[int64]bool
}

func newPartitions() *partitions { return &partitions{known: map[int64]bool{}} }

// unixDay returns t's UTC day as days since 1970-01-01.
func unixDay(t time.Time) int64 {
	s := t.Unix()
	return (s - mod(s, secondsPerDay)) / secondsPerDay
}

func dayTime(d int64) time.Time { return time.Unix(d*secondsPerDay, 0).UTC() }

// missing returns the days of r's events not known to have a partition.
func (p *partitions) missing(r *batchRows) []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var days []int64
	seen := map[int64]bool{}
	for _, evs := range [][]*event{r.invites, r.memberships} {
		for _, ev := range evs {
			d := unixDay(ev.ReceivedAt)
			if !p.known[d] && !seen[d] {
				seen[d] = true
				days = append(days, d)
			}
		}
	}
	return days
}

// ensure creates the partitions of r's days that are not known yet.
func (p *partitions) ensure(ctx context.Context, pool *pgxpool.Pool, r *batchRows) error {
	for _, d := range p.missing(r) {
		if err := p.create(ctx, pool, d, d); err != nil {
			return err
		}
	}
	return nil
}

// create makes sure the days from..to (included) have partitions, and
// remembers them.
func (p *partitions) create(ctx context.Context, pool *pgxpool.Pool, from, to int64) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '"+partitionLockTimeout+"'"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, createPartitionsSQL, dayTime(from), dayTime(to))
		return err
	})
	if err != nil {
		return fmt.Errorf("create partitions %s to %s: %w", dayTime(from).Format(time.DateOnly), dayTime(to).Format(time.DateOnly), err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for d := from; d <= to; d++ {
		p.known[d] = true
	}
	return nil
}

// drop drops the partitions whose range ends at or before olderThan and
// returns their names. Each is first detached CONCURRENTLY, which locks its
// parent only against other schema changes, so inserts and queries go on;
// dropping the detached table then locks nothing else. A detach left
// pending by an interrupted pass is finished first. drop forgets every
// known day, since partitions of days it remembered may be gone (this
// projector's or another's retention).
func (p *partitions) drop(ctx context.Context, pool *pgxpool.Pool, olderThan time.Time) ([]string, error) {
	defer p.forget()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("drop partitions: %w", err)
	}
	defer conn.Release()
	// One projector at a time: two concurrent detaches of a table fail.
	var mine bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, retentionLockKey).Scan(&mine); err != nil {
		return nil, fmt.Errorf("drop partitions: %w", err)
	}
	if !mine {
		return nil, nil // another projector applies the retention now
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, retentionLockKey) //nolint:errcheck // fails only with a broken session, which frees the lock
	rows, err := conn.Query(ctx, expiredPartitionsSQL, olderThan)
	if err != nil {
		return nil, fmt.Errorf("list partitions before %s: %w", olderThan.UTC().Format(time.RFC3339), err)
	}
	type expired struct {
		Parent, Partition string
		Pending           bool
	}
	parts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[expired])
	if err != nil {
		return nil, fmt.Errorf("list partitions before %s: %w", olderThan.UTC().Format(time.RFC3339), err)
	}
	var dropped []string
	for _, e := range parts {
		parent, part := pgx.Identifier{"invitegate", e.Parent}.Sanitize(), pgx.Identifier{"invitegate", e.Partition}.Sanitize()
		detach := "ALTER TABLE " + parent + " DETACH PARTITION " + part + " CONCURRENTLY"
		if e.Pending {
			detach = "ALTER TABLE " + parent + " DETACH PARTITION " + part + " FINALIZE"
		}
		for _, stmt := range []string{detach, "DROP TABLE " + part} {
			if _, err := conn.Exec(ctx, stmt); err != nil {
				return dropped, fmt.Errorf("drop partition %s: %w", e.Partition, err)
			}
		}
		dropped = append(dropped, e.Partition)
	}
	return dropped, nil
}

// forget drops what p knows, so that the next batch checks again.
func (p *partitions) forget() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.known)
}

// isNoPartition reports whether err is PostgreSQL finding no partition for a
// row: a partition this projector knew was dropped meanwhile.
func isNoPartition(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23514" && // check_violation
		strings.Contains(pgErr.Message, "no partition of relation")
}

// maintainPartitions creates the partitions ahead and applies the retention
// now and then every cfg.PartitionInterval until ctx ends. Failures are
// logged and counted, and retried at the next pass; batches create the
// partitions they need themselves meanwhile.
func (w *Worker) maintainPartitions(ctx context.Context) {
	for {
		w.partitionPass(ctx)
		if !sleep(ctx, w.cfg.PartitionInterval) {
			return
		}
	}
}

// partitionPass creates the partitions from yesterday to PartitionsAhead
// days ahead and, with a retention, drops the partitions past it.
func (w *Worker) partitionPass(ctx context.Context) {
	now := w.cfg.Now()
	today := unixDay(now)
	if err := w.parts.create(ctx, w.pool, today-1, today+int64(w.cfg.PartitionsAhead)); err != nil {
		if ctx.Err() == nil {
			w.m.partitionErrors.WithLabelValues("create").Inc()
			w.logger.Error("create partitions ahead failed; retrying at the next pass", "err", err)
		}
	}
	if w.cfg.Retention <= 0 {
		return
	}
	dropped, err := w.parts.drop(ctx, w.pool, now.Add(-w.cfg.Retention))
	switch {
	case err != nil && ctx.Err() == nil:
		w.m.partitionErrors.WithLabelValues("drop").Inc()
		w.logger.Error("drop partitions past the retention failed; retrying at the next pass", "err", err)
	case len(dropped) > 0:
		w.m.partitionsDropped.Add(float64(len(dropped)))
		w.logger.Info("dropped partitions past the retention", "retention", w.cfg.Retention, "partitions", dropped)
	}
}
