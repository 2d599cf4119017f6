package policylog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/invitegate/invitegate/migrations/policystore"
)

// RevisionWriter writes every policy event into invitegate.policy_revisions
// (see the package documentation).
type RevisionWriter struct {
	cfg    Config
	js     jetstream.JetStream
	pool   *pgxpool.Pool
	logger *slog.Logger
	m      *metrics
	run    runner

	docs map[string]*decider.Document // per app, the document in force; run goroutine only
}

// NewRevisionWriter returns a RevisionWriter reading through js and
// writing through pool (a migrated database).
func NewRevisionWriter(cfg Config, js jetstream.JetStream, pool *pgxpool.Pool, logger *slog.Logger, reg prometheus.Registerer) (*RevisionWriter, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m, err := newWriterMetrics(reg)
	if err != nil {
		return nil, err
	}
	logger = logger.With("component", "policy-revisions")
	w := &RevisionWriter{cfg: cfg, js: js, pool: pool, logger: logger, m: m}
	w.run = runner{name: "policy revision writer", wait: cfg.RetryWait, logger: logger, m: m}
	return w, nil
}

// Start writes in the background; after Stop it returns startstop.ErrStopped.
func (w *RevisionWriter) Start(context.Context) error { return w.run.start(w.follow) }

// Stop stops writing; what is not committed is written after the next start.
func (w *RevisionWriter) Stop(ctx context.Context) error { return w.run.stop(ctx) }

func (w *RevisionWriter) follow(ctx context.Context) error {
	setup, cancel := context.WithTimeout(ctx, w.cfg.RequestTimeout)
	defer cancel()
	st, err := natsconn.EnsurePolicyStores(setup, w.js, w.cfg.Stores)
	if err != nil {
		return err
	}
	last, err := w.loadState(setup)
	if err != nil {
		return err
	}
	rd, err := policystore.NewReader(setup, st.Stream, decider.PolicySubjects, last+1)
	if err != nil {
		return err
	}
	defer rd.Stop()
	defer context.AfterFunc(ctx, rd.Stop)() // unblocks a Next stuck recreating the consumer
	var batch []revisionRow
	for {
		rec, pending, err := rd.Next(ctx)
		if err != nil {
			return err
		}
		batch = append(batch, w.judge(rec))
		if pending == 0 || len(batch) >= w.cfg.BatchSize {
			if err := w.write(ctx, batch); err != nil {
				return err // the next follow reloads the state from the table
			}
			batch = batch[:0]
		}
	}
}

// loadState reads the last revision written and each app's document in
// force (its last applied replaced event).
func (w *RevisionWriter) loadState(ctx context.Context) (uint64, error) {
	var last int64
	if err := w.pool.QueryRow(ctx, `SELECT coalesce(max(revision), 0) FROM invitegate.policy_revisions`).Scan(&last); err != nil {
		return 0, fmt.Errorf("last policy revision: %w", err)
	}
	rows, err := w.pool.Query(ctx, `SELECT DISTINCT ON (app) app, document FROM invitegate.policy_revisions
		WHERE applied AND kind = 'replaced' ORDER BY app, revision DESC`)
	if err != nil {
		return 0, fmt.Errorf("policy documents in force: %w", err)
	}
	w.docs = map[string]*decider.Document{}
	for rows.Next() {
		var app string
		var doc []byte
		if err := rows.Scan(&app, &doc); err != nil {
			return 0, fmt.Errorf("policy documents in force: %w", err)
		}
		d, err := decider.ParseDocument(doc)
		if err != nil {
			return 0, fmt.Errorf("policy document in force for %s: %w", app, err)
		}
		w.docs[app] = d
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("policy documents in force: %w", err)
	}
	return uint64(last), nil
}

// revisionRow is one row of policy_revisions.
type revisionRow struct {
	rec     policystore.Record
	change  *decider.Change // nil when the event does not parse
	doc     *string         // replaced: the document as JSON
	reason  *string         // reject reason; nil when applied
	problem *string
}

// judge decides whether the replicas apply rec, exactly as decider.Fold
// does: the event must parse, match its subject, compile (replaced) and
// name a list of the document in force (list events).
func (w *RevisionWriter) judge(rec policystore.Record) revisionRow {
	r := revisionRow{rec: rec}
	c, err := decider.ParseChange(rec.Data)
	if err == nil && c.Kind != rec.Kind {
		err = &decider.ChangeError{Reason: decider.RejectMalformed, Err: fmt.Errorf("the subject says %q but the event's kind is %q", rec.Kind, c.Kind)}
	}
	if err == nil {
		err = c.Validate()
	}
	if err == nil {
		err = c.CheckAgainst(w.docs[rec.App])
	}
	if c != nil && c.Document != nil {
		if b, jerr := json.Marshal(c.Document); jerr == nil {
			s := string(b)
			r.doc = &s
		}
	}
	r.change = c
	var ce *decider.ChangeError
	switch {
	case errors.As(err, &ce):
		msg := err.Error()
		r.reason, r.problem = &ce.Reason, &msg
	case err != nil:
		reason, msg := decider.RejectMalformed, err.Error()
		r.reason, r.problem = &reason, &msg
	case c.Kind == decider.ChangeReplaced:
		w.docs[rec.App] = c.Document
	}
	return r
}

const insertRevisionSQL = `INSERT INTO invitegate.policy_revisions
	(revision, app, kind, applied, reject_reason, problem, author, reason, changed_at, stored_at,
	 rollback_of, document, list, ids, id_count)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13, $14, $15)
ON CONFLICT (revision) DO NOTHING`

// write inserts batch in one transaction (rows already there are kept).
func (w *RevisionWriter) write(ctx context.Context, batch []revisionRow) error {
	wctx, cancel := context.WithTimeout(ctx, w.cfg.RequestTimeout)
	defer cancel()
	var b pgx.Batch
	applied := 0
	for _, r := range batch {
		b.Queue(insertRevisionSQL, r.args()...)
		if r.reason == nil {
			applied++
		}
	}
	err := pgx.BeginFunc(wctx, w.pool, func(tx pgx.Tx) error {
		return tx.SendBatch(wctx, &b).Close()
	})
	if err != nil {
		return fmt.Errorf("insert policy revisions %d..%d: %w", batch[0].rec.Seq, batch[len(batch)-1].rec.Seq, err)
	}
	w.m.revisions.WithLabelValues("true").Add(float64(applied))
	w.m.revisions.WithLabelValues("false").Add(float64(len(batch) - applied))
	return nil
}

func (r revisionRow) args() []any {
	var (
		author, reason string
		changedAt      = r.rec.Stored
		rollbackOf     *int64
		list           *string
		ids            []string
	)
	if c := r.change; c != nil {
		author, reason = c.Author, c.Reason
		if !c.Time.IsZero() {
			changedAt = c.Time
		}
		if c.RollbackOf != 0 {
			v := int64(c.RollbackOf)
			rollbackOf = &v
		}
		if c.List != "" {
			list = &c.List
		}
		ids = c.IDs
	}
	return []any{int64(r.rec.Seq), r.rec.App, r.rec.Kind, r.reason == nil, r.reason, r.problem, author, reason,
		changedAt, r.rec.Stored, rollbackOf, r.doc, list, ids, len(ids)}
}
