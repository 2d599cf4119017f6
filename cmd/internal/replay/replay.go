package replay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// ApplicationName is the application_name of a replay's connection (unless
// the database URL sets one): pg_stat_activity shows who reads.
const ApplicationName = "invitegate policy replay"

// rowsPerBatch is how many rows travel together to a worker.
const rowsPerBatch = 2048

// Estimate returns the planner's estimate of the invites in c's window.
func Estimate(ctx context.Context, c Config) (int64, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return 0, err
	}
	var n int64
	err := readOnly(ctx, c.DatabaseURL, func(tx pgx.Tx) (err error) {
		n, err = estimateRows(ctx, tx, &c)
		return err
	})
	return n, err
}

// Run replays every invite of c's window with c.Candidate and returns the
// difference from what was decided.
func Run(ctx context.Context, c Config) (Summary, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return Summary{}, err
	}
	start := time.Now()
	workers := make([]*worker, c.Workers)
	for i := range workers {
		workers[i] = newWorker(&c)
	}
	gctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	batches := make(chan *batch, 2*c.Workers)
	free := make(chan *batch, 3*c.Workers+1) // every batch in flight fits: no give-back blocks
	for _, w := range workers {
		wg.Go(func() {
			for b := range batches {
				if err := w.batch(b); err != nil {
					cancel(err)
					for range batches { // let the reader finish
					}
					return
				}
				select {
				case free <- b:
				default:
				}
			}
		})
	}
	err := readOnly(gctx, c.DatabaseURL, func(tx pgx.Tx) error {
		var read int64
		for _, sql := range copySQL(&c) {
			split := &rowSplitter{ctx: gctx, out: batches, free: free, fields: len(columns), rowsPerBatch: rowsPerBatch,
				rows: read, progress: c.Progress}
			if _, err := tx.Conn().PgConn().CopyTo(gctx, split, sql); err != nil {
				return fmt.Errorf("read invites: %w", err)
			}
			if !split.ended {
				return fmt.Errorf("%w: no trailer", errCopyFormat)
			}
			if err := split.flush(); err != nil {
				return err
			}
			read = split.rows
		}
		return nil
	})
	close(batches)
	wg.Wait()
	if cause := context.Cause(gctx); cause != nil && ctx.Err() == nil {
		return Summary{}, cause // a worker failed
	}
	if err != nil {
		return Summary{}, err
	}
	parts := make([]*partial, len(workers))
	for i, w := range workers {
		parts[i] = w.p
	}
	s := merge(&c, parts)
	s.ElapsedSeconds = time.Since(start).Seconds()
	return s, nil
}

// readOnly runs fn in a read-only transaction on a connection of its own.
func readOnly(ctx context.Context, url string, fn func(pgx.Tx) error) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("database url: %w", err)
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = ApplicationName
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return fmt.Errorf("begin read-only transaction: %w", err)
	}
	err = fn(tx)
	if rerr := tx.Rollback(context.WithoutCancel(ctx)); err == nil && rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed) {
		err = rerr
	}
	return err
}
