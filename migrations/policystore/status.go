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
	keys, err := l.statusKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []ReplicaStatus
	for _, key := range keys {
		e, err := l.statusEntry(ctx, key)
		if err != nil {
			return nil, err
		}
		if e == nil {
			continue // deleted, or expired meanwhile
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

// statusKeys lists the app's keys in the status bucket, from its stream.
func (l *Log) statusKeys(ctx context.Context) ([]string, error) {
	bucket := l.stores.Status.Bucket()
	prefix := "$KV." + bucket + "."
	var info *jetstream.StreamInfo
	err := Retry(ctx, func(ctx context.Context) error {
		stream, err := l.js.Stream(ctx, "KV_"+bucket)
		if err != nil {
			return err
		}
		info, err = stream.Info(ctx, jetstream.WithSubjectFilter(prefix+SanitizeID(l.app)+".*"))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	keys := make([]string, 0, len(info.State.Subjects))
	for subject := range info.State.Subjects {
		keys = append(keys, strings.TrimPrefix(subject, prefix))
	}
	return keys, nil
}

// statusEntry reads key; nil when it was deleted or expired meanwhile.
func (l *Log) statusEntry(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	var e jetstream.KeyValueEntry
	err := Retry(ctx, func(ctx context.Context) error {
		var err error
		e, err = l.stores.Status.Get(ctx, key)
		return err
	})
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	return e, nil
}

// ErrNoReplicas is returned by WaitRevision when no replica is live.
var ErrNoReplicas = errors.New("no live ingress replica reports its policy revision")

// WaitRevision returns once every live replica of the app (status younger
// than stale) reports revision rev or later, with their statuses. A
// replica that stops reporting stops counting once its status is stale.
//
// It reads the statuses rather than watching them: a watch is a consumer,
// which a server that just died (the cluster does not know it yet) can be
// chosen to hold, while any replica of the bucket answers a read. It lists
// the bucket's keys at the start and every stale/4 (a replica that
// started, one that stopped), and reads every key at growing intervals
// (waitPollMin to waitPollMax).
func (l *Log) WaitRevision(ctx context.Context, rev uint64, stale time.Duration) ([]ReplicaStatus, error) {
	replicas := seenSet{}
	var keys []string
	var listed time.Time
	wait := waitPollMin
	for {
		if listed.IsZero() || time.Since(listed) >= stale/4 {
			var err error
			if keys, err = l.statusKeys(ctx); err != nil {
				return nil, fmt.Errorf("wait for revision %d: %w", rev, err)
			}
			listed = time.Now()
			for key := range replicas {
				if !slices.Contains(keys, key) {
					delete(replicas, key) // deleted or expired
				}
			}
		}
		for _, key := range keys {
			e, err := l.statusEntry(ctx, key)
			if err != nil {
				return nil, fmt.Errorf("wait for revision %d: %w", rev, err)
			}
			if e != nil {
				if err := replicas.note(e); err != nil {
					return nil, err
				}
			}
		}
		live := replicas.live(stale)
		if len(live) == 0 {
			return nil, ErrNoReplicas
		}
		done := true
		for _, st := range live {
			done = done && st.Revision >= rev
		}
		if done {
			return live, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("wait for revision %d: %w", rev, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, waitPollMax)
	}
}

// Intervals between two reads of the statuses by WaitRevision.
const (
	waitPollMin = 2 * time.Millisecond
	waitPollMax = 25 * time.Millisecond
)

// seen is a replica status as WaitRevision saw it: its write time and the
// bucket's revision of the entry (a deletion is kept, as deleted).
type seen struct {
	st      ReplicaStatus
	written time.Time
	rev     uint64
	deleted bool
}

// seenSet is the newest entry seen of each key.
type seenSet map[string]seen

// note records e unless an entry as new or newer was seen for its key.
func (s seenSet) note(e jetstream.KeyValueEntry) error {
	if old, ok := s[e.Key()]; ok && old.rev >= e.Revision() {
		return nil
	}
	st, ok, err := decodeStatus(e, time.Now())
	if err != nil {
		return err
	}
	s[e.Key()] = seen{st: st, written: e.Created(), rev: e.Revision(), deleted: !ok}
	return nil
}

// live returns the statuses younger than stale, by replica name.
func (s seenSet) live(stale time.Duration) []ReplicaStatus {
	var live []ReplicaStatus
	for _, r := range s {
		if age := time.Since(r.written); !r.deleted && age < stale {
			r.st.Age = age
			live = append(live, r.st)
		}
	}
	slices.SortFunc(live, func(a, b ReplicaStatus) int { return strings.Compare(a.Replica, b.Replica) })
	return live
}
