package policylog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
	rd, err := policystore.NewReader(setup, w.js, st.Stream, decider.PolicySubjects, last+1)
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
		d, err := decider.ParseDocumentJSON(doc)
		if err != nil { // stored rewritten, or by another version: judge without it rather than stop
			w.logger.Error("policy document in force unreadable from policy_revisions: list events of this app are judged without it",
				"app", app, "err", err)
			continue
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
	reason  *string         // reject reason; nil when applied
	problem *string
	keyID   *string // the key that signed it; nil when unsigned
}

// judge decides whether the replicas apply rec, exactly as decider.Fold
// does: a trusted signature when trust is configured, then the event must
// parse, match its subject, compile (replaced) and name a list of the
// document in force (list events).
func (w *RevisionWriter) judge(rec policystore.Record) revisionRow {
	r := revisionRow{rec: rec}
	if rec.KeyID != "" {
		r.keyID = &rec.KeyID
	}
	author, err := rec.Verify(w.cfg.Trust)
	if err == nil && len(rec.App) > decider.MaxAppBytes {
		err = &decider.ChangeError{Reason: decider.RejectMalformed, Err: fmt.Errorf("app token of %d bytes (at most %d)", len(rec.App), decider.MaxAppBytes)}
	}
	c, perr := decider.ParseChange(rec.Data)
	if err == nil {
		err = perr
	}
	if err == nil && c.Kind != rec.Kind {
		err = &decider.ChangeError{Reason: decider.RejectMalformed, Err: fmt.Errorf("the subject says %q but the event's kind is %q", rec.Kind, c.Kind)}
	}
	if err == nil {
		err = c.Validate()
	}
	if err == nil {
		err = c.CheckAgainst(w.docs[rec.App])
	}
	if c != nil && w.cfg.Trust.Enabled() && err == nil {
		c.Author = author
	}
	r.change = c
	if c == nil {
		// Rejected before it parsed: record what a lenient reading gives.
		var lenient decider.Change
		if json.Unmarshal(rec.Data, &lenient) == nil {
			r.change = &lenient
		}
	}
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
	 rollback_of, document, list, ids, id_count, key_id, stored_note)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13, $14, $15, $16, $17)
ON CONFLICT (revision) DO NOTHING`

// write inserts batch in one transaction (rows already there are kept).
// When PostgreSQL refuses the batch, each row is written alone, and a row
// it still refuses is written without its payload (stored_note says why):
// one event never blocks the next.
func (w *RevisionWriter) write(ctx context.Context, batch []revisionRow) error {
	err := w.insert(ctx, batch, false)
	if err == nil || ctx.Err() != nil || !isDataError(err) {
		return err
	}
	for i := range batch {
		err := w.insert(ctx, batch[i:i+1], false)
		if err != nil && isDataError(err) {
			w.logger.Error("policy revision refused by PostgreSQL: stored without its payload", "revision", batch[i].rec.Seq, "err", err)
			err = w.insert(ctx, batch[i:i+1], true)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// isDataError reports whether err is PostgreSQL refusing the data (SQLSTATE
// class 22, data exception; 23, integrity constraint; 54, a value past a
// limit such as an index row) rather than a connection or server failure
// that a retry may cure.
func isDataError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && slices.Contains([]string{"22", "23", "54"}, pgErr.Code[:min(2, len(pgErr.Code))])
}

// insert writes rows in one transaction; bare writes them without payload.
func (w *RevisionWriter) insert(ctx context.Context, rows []revisionRow, bare bool) error {
	wctx, cancel := context.WithTimeout(ctx, w.cfg.RequestTimeout)
	defer cancel()
	var b pgx.Batch
	applied := 0
	for _, r := range rows {
		b.Queue(insertRevisionSQL, r.args(bare)...)
		if r.reason == nil {
			applied++
		}
	}
	err := pgx.BeginFunc(wctx, w.pool, func(tx pgx.Tx) error {
		return tx.SendBatch(wctx, &b).Close()
	})
	if err != nil {
		return fmt.Errorf("insert policy revisions %d..%d: %w", rows[0].rec.Seq, rows[len(rows)-1].rec.Seq, err)
	}
	w.m.revisions.WithLabelValues("true").Add(float64(applied))
	w.m.revisions.WithLabelValues("false").Add(float64(len(rows) - applied))
	return nil
}

func (r revisionRow) args(bare bool) []any {
	var (
		author, reason string
		changedAt      = r.rec.Stored
		rollbackOf     *int64
		list           *string
		ids            []string
		doc            *decider.Document
	)
	if c := r.change; c != nil && !bare {
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
		ids, doc = c.IDs, c.Document
	}
	var note noteList
	app := note.text("app", r.rec.App)
	kind := note.text("kind", r.rec.Kind)
	if bare { // what an index may refuse: cut to a size it takes
		app, kind = clip(app, 200), clip(kind, 200)
	}
	author, reason = note.text("author", author), note.text("reason", reason)
	problem, keyID, list := note.ptr("problem", r.problem), note.ptr("key_id", r.keyID), note.ptr("list", list)
	docJSON := note.document("document", doc)
	ids = note.texts("ids", ids)
	stored := note.String()
	if bare {
		stored = "stored without its payload: PostgreSQL refused the row"
	}
	var storedNote *string
	if stored != "" {
		storedNote = &stored
	}
	return []any{int64(r.rec.Seq), app, kind, r.reason == nil, r.reason, problem, author, reason,
		changedAt, r.rec.Stored, rollbackOf, docJSON, list, ids, len(ids), keyID, storedNote}
}

// clip cuts s to at most n bytes of valid UTF-8.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
