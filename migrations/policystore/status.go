package policystore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ReplicaStatus is what a replica reports in the status bucket under
// <app>.<replica>, at each new revision and every StatusInterval.
type ReplicaStatus struct {
	App       string    `json:"app"`
	Replica   string    `json:"replica"`
	Revision  uint64    `json:"revision"`
	Source    string    `json:"source"` // where the revision came from: log, disk or file
	Host      string    `json:"host,omitempty"`
	PID       int       `json:"pid,omitempty"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// Age is how long ago the entry was written (by the server's clock);
	// set when read, not stored.
	Age time.Duration `json:"-"`
}

// Sources of a replica's revision.
const (
	SourceLog  = "log"  // applied from the policy log
	SourceDisk = "disk" // the last good snapshot on disk (NATS not reached yet)
	SourceFile = "file" // the --policy file (no log reached, nothing on disk)
)

func (l *Log) statusKey(replica string) string { return SanitizeID(l.app) + "." + replica }

// PutStatus writes st under its key.
func (l *Log) PutStatus(ctx context.Context, st ReplicaStatus) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode replica status: %w", err)
	}
	if _, err := l.stores.Status.Put(ctx, l.statusKey(st.Replica), data); err != nil {
		return fmt.Errorf("put replica status: %w", err)
	}
	return nil
}

func (l *Log) DeleteStatus(ctx context.Context, replica string) error {
	if err := l.stores.Status.Delete(ctx, l.statusKey(replica)); err != nil {
		return fmt.Errorf("delete replica status: %w", err)
	}
	return nil
}

// decodeStatus reads one status entry; ok is false for deletions.
func decodeStatus(e jetstream.KeyValueEntry, now time.Time) (ReplicaStatus, bool, error) {
	if e.Operation() != jetstream.KeyValuePut {
		return ReplicaStatus{}, false, nil
	}
	var st ReplicaStatus
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return st, false, fmt.Errorf("replica status %s: %w", e.Key(), err)
	}
	st.Age = max(now.Sub(e.Created()), 0)
	return st, true, nil
}

// Replicas lists the replicas of the app whose status entry is younger
// than stale (0: any still in the bucket), by replica name. It lists the
// keys from the bucket's stream and reads each: a watch's initial values
// can miss an entry rewritten while the watch starts.
func (l *Log) Replicas(ctx context.Context, stale time.Duration) ([]ReplicaStatus, error) {
	bucket := l.stores.Status.Bucket()
	stream, err := l.js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	prefix := "$KV." + bucket + "."
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(prefix+SanitizeID(l.app)+".*"))
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	var out []ReplicaStatus
	for subject := range info.State.Subjects {
		e, err := l.stores.Status.Get(ctx, strings.TrimPrefix(subject, prefix))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted, or expired meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("list replicas: %w", err)
		}
		st, ok, err := decodeStatus(e, time.Now())
		if err != nil {
			return nil, err
		}
		if ok && (stale == 0 || st.Age < stale) {
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b ReplicaStatus) int { return strings.Compare(a.Replica, b.Replica) })
	return out, nil
}

// ErrNoReplicas is returned by WaitRevision when no replica is live.
var ErrNoReplicas = errors.New("no live ingress replica reports its policy revision")

// WaitRevision returns once every live replica of the app (status younger
// than stale) reports revision rev or later, with their statuses. A
// replica that stops reporting stops counting once its status is stale.
func (l *Log) WaitRevision(ctx context.Context, rev uint64, stale time.Duration) ([]ReplicaStatus, error) {
	w, err := l.stores.Status.Watch(ctx, SanitizeID(l.app)+".*")
	if err != nil {
		return nil, fmt.Errorf("watch replicas: %w", err)
	}
	defer w.Stop() //nolint:errcheck // nothing to do about it
	replicas := map[string]seen{}
	initial := true
	tick := time.NewTicker(stale / 4)
	defer tick.Stop()
	// A status rewritten while the watch starts can be missing from its
	// initial values and arrive as an update a moment later; so a result
	// is returned only once it has held for waitSettle.
	var settled <-chan time.Time
	for {
		select {
		case <-settled:
			return settledLive(replicas, stale), nil
		case e := <-w.Updates():
			if e == nil {
				initial = false
				break
			}
			st, ok, err := decodeStatus(e, time.Now())
			if err != nil {
				return nil, err
			}
			delete(replicas, e.Key())
			if ok {
				replicas[e.Key()] = seen{st: st, written: e.Created()}
			}
		case <-tick.C:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for revision %d: %w", rev, ctx.Err())
		}
		if initial {
			continue
		}
		var live []ReplicaStatus
		done := true
		for _, r := range replicas {
			if age := time.Since(r.written); age < stale {
				r.st.Age = age
				live = append(live, r.st)
				done = done && r.st.Revision >= rev
			}
		}
		if len(live) == 0 {
			return nil, ErrNoReplicas
		}
		switch {
		case !done:
			settled = nil
		case settled == nil:
			settled = time.After(waitSettle)
		}
	}
}

// seen is a replica status as WaitRevision saw it, with its write time.
type seen struct {
	st      ReplicaStatus
	written time.Time
}

// waitSettle is how long WaitRevision's answer must hold before it returns.
const waitSettle = 50 * time.Millisecond

// settledLive returns the replicas whose status is younger than stale, by name.
func settledLive(replicas map[string]seen, stale time.Duration) []ReplicaStatus {
	var live []ReplicaStatus
	for _, r := range replicas {
		if age := time.Since(r.written); age < stale {
			r.st.Age = age
			live = append(live, r.st)
		}
	}
	slices.SortFunc(live, func(a, b ReplicaStatus) int { return strings.Compare(a.Replica, b.Replica) })
	return live
}
