package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// runner is the state of one Run.
type runner struct {
	cfg     Config
	targets []string // cfg.URL split at commas
	client  *http.Client
	gen     *generator
	rec     *recorder // nil without RecordFile

	latency Histogram // answered requests, from the scheduled time
	service Histogram // answered requests, from the actual send

	attempted atomic.Int64
	answered  atomic.Int64
	missed    atomic.Int64
	outcomes  [len(outcomeNames)]atomic.Int64
	errKinds  [len(errorKinds)]atomic.Int64

	mu       sync.Mutex
	statuses map[int]int64
	recErr   error
}

// Run sends the configured load and returns its report. It stops at
// Duration or after Requests, whichever comes first; requests in flight then
// finish (within Timeout). When ctx is canceled, Run aborts the requests in
// flight (counted as ErrCanceled) and returns the partial report with
// ctx.Err(). A record file that cannot be written stops the run with an
// error; the report is returned as well. Only an invalid Config or an
// uncreatable record file return a nil report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.RunID == "" {
		cfg.RunID = strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	r := &runner{cfg: cfg, targets: cfg.targets(), client: newClient(&cfg), gen: newGenerator(cfg), statuses: map[int]int64{}}
	defer r.client.CloseIdleConnections()
	if cfg.RecordFile != "" {
		rec, err := openRecorder(cfg.RecordFile)
		if err != nil {
			return nil, err
		}
		r.rec = rec
	}
	runCtx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	start := time.Now()
	elapsed := r.drive(runCtx, cancelRun, start)
	if r.rec != nil {
		if err := r.rec.close(); err != nil {
			r.recordFailed(cancelRun, err)
		}
	}
	rep := r.report(start, elapsed)
	if r.recErr != nil {
		return rep, r.recErr
	}
	if err := ctx.Err(); err != nil {
		rep.Interrupted = true
		return rep, err
	}
	return rep, nil
}

// drive runs the producer, the workers and the progress line until all
// requests are done, and returns the time that took.
func (r *runner) drive(runCtx context.Context, cancelRun context.CancelCauseFunc, start time.Time) time.Duration {
	schedCtx := runCtx
	if r.cfg.Duration > 0 {
		var cancel context.CancelFunc
		schedCtx, cancel = context.WithDeadline(runCtx, start.Add(r.cfg.Duration))
		defer cancel()
	}
	jobs := make(chan job, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for range r.cfg.Concurrency {
		wg.Go(func() { r.work(runCtx, schedCtx, cancelRun, jobs) })
	}
	stopProgress := r.startProgress(start)
	if r.cfg.Rate > 0 {
		r.openLoop(schedCtx, runCtx, jobs, start)
	} else {
		r.closedLoop(schedCtx, jobs)
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	return elapsed
}

// openLoop queues request i at start + i/Rate, whatever the answers. When
// all Concurrency workers are busy the queue fills and requests go out late,
// their latency still counted from the schedule; those still unsent at the
// end of Duration are counted as missed.
func (r *runner) openLoop(schedCtx, runCtx context.Context, jobs chan<- job, start time.Time) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	due := int64(math.MaxInt64)
	if r.cfg.Duration > 0 {
		due = int64(math.Ceil(r.cfg.Duration.Seconds() * r.cfg.Rate))
	}
	if r.cfg.Requests > 0 {
		due = min(due, r.cfg.Requests)
	}
	for i := int64(0); i < due; i++ {
		intended := start.Add(time.Duration(float64(i) * float64(time.Second) / r.cfg.Rate))
		if wait := time.Until(intended); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-schedCtx.Done():
				timer.Stop()
				r.countMissed(runCtx, due-i)
				return
			}
		}
		select {
		case jobs <- job{d: r.gen.next(), intended: intended}:
		case <-schedCtx.Done():
			r.countMissed(runCtx, due-i)
			return
		}
	}
}

// countMissed counts scheduled requests never sent because Duration ended
// (not because the run was canceled).
func (r *runner) countMissed(runCtx context.Context, n int64) {
	if runCtx.Err() == nil {
		r.missed.Add(n)
	}
}

// closedLoop keeps the workers fed; each sends its next request as soon as
// its previous one is answered.
func (r *runner) closedLoop(schedCtx context.Context, jobs chan<- job) {
	for i := int64(0); r.cfg.Requests == 0 || i < r.cfg.Requests; i++ {
		select {
		case jobs <- job{d: r.gen.next()}:
		case <-schedCtx.Done():
			return
		}
	}
}

// work sends queued jobs. After a cancel it drains the queue without
// sending; in closed-loop it also stops sending once Duration is over.
func (r *runner) work(runCtx, schedCtx context.Context, cancelRun context.CancelCauseFunc, jobs <-chan job) {
	for j := range jobs {
		if runCtx.Err() != nil || (r.cfg.Rate == 0 && schedCtx.Err() != nil) {
			continue
		}
		res := r.send(runCtx, j)
		r.account(&res)
		if r.rec != nil {
			rec := newRecord(r.cfg.SdkAppID, &res)
			if err := r.rec.write(&rec); err != nil {
				r.recordFailed(cancelRun, err)
			}
		}
	}
}

func (r *runner) recordFailed(cancelRun context.CancelCauseFunc, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.recErr == nil {
		r.recErr = fmt.Errorf("record %s: %w", r.cfg.RecordFile, err)
		cancelRun(r.recErr)
	}
}

// account adds one sent request to the counters.
func (r *runner) account(res *result) {
	r.attempted.Add(1)
	r.outcomes[indexOf(outcomeNames[:], res.outcome)].Add(1)
	if res.errKind != "" {
		r.errKinds[indexOf(errorKinds[:], res.errKind)].Add(1)
	} else {
		r.answered.Add(1)
		r.latency.Record(res.latency)
		r.service.Record(res.service)
	}
	if res.status != 0 {
		r.mu.Lock()
		r.statuses[res.status]++
		r.mu.Unlock()
	}
}

func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	panic(errors.New("loadgen: unknown name " + name))
}
