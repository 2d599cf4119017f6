package policystore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitegate/invitegate/decider"
)

// Compacted snapshots live in the Object Store natsconn.PolicySnapshotBucket:
// object "app/<app>" holds decider.WriteState of the app's fold, with its
// revision and position also in the object's metadata (read without
// downloading). Object "checkpoint" records the stream position up to
// which every app's snapshot is written (the compactor resumes there).
const (
	checkpointObject = "checkpoint"
	metaRevision     = "revision"
	metaPosition     = "position"
)

// SnapshotObject is the object name of app's compacted snapshot.
func SnapshotObject(app string) string { return "app/" + app }

// SnapshotInfo is what the metadata of a compacted snapshot says.
type SnapshotInfo struct {
	Revision uint64
	Position uint64
}

// StatSnapshot returns the metadata of app's compacted snapshot; ok is
// false when there is none.
func StatSnapshot(ctx context.Context, obs jetstream.ObjectStore, app string) (SnapshotInfo, bool, error) {
	info, err := obs.GetInfo(ctx, SnapshotObject(app))
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return SnapshotInfo{}, false, nil
	}
	if err != nil {
		return SnapshotInfo{}, false, fmt.Errorf("policy snapshot of %s: %w", app, err)
	}
	rev, err1 := strconv.ParseUint(info.Metadata[metaRevision], 10, 64)
	pos, err2 := strconv.ParseUint(info.Metadata[metaPosition], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return SnapshotInfo{}, false, fmt.Errorf("policy snapshot of %s: bad metadata %v: %w", app, info.Metadata, err)
	}
	return SnapshotInfo{Revision: rev, Position: pos}, true, nil
}

// LoadSnapshot returns app's compacted snapshot and the position it covers
// when that position is beyond after; else nil.
func LoadSnapshot(ctx context.Context, obs jetstream.ObjectStore, app string, after uint64) (*decider.Snapshot, uint64, error) {
	info, ok, err := StatSnapshot(ctx, obs, app)
	if err != nil || !ok || info.Position <= after {
		return nil, 0, err
	}
	res, err := obs.Get(ctx, SnapshotObject(app))
	if err != nil {
		return nil, 0, fmt.Errorf("policy snapshot of %s: %w", app, err)
	}
	defer res.Close()
	snap, pos, err := decider.ReadState(res)
	if err != nil {
		return nil, 0, fmt.Errorf("policy snapshot of %s: %w", app, err)
	}
	return snap, pos, nil
}

// SaveSnapshot writes app's compacted snapshot s covering the log up to
// position, streaming it (a 1,000,000-entry list is not held twice).
func SaveSnapshot(ctx context.Context, obs jetstream.ObjectStore, app string, s *decider.Snapshot, position uint64) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(decider.WriteState(pw, s, position)) }()
	meta := jetstream.ObjectMeta{Name: SnapshotObject(app), Metadata: map[string]string{
		metaRevision: strconv.FormatUint(s.Revision(), 10),
		metaPosition: strconv.FormatUint(max(position, s.Revision()), 10),
	}}
	_, err := obs.Put(ctx, meta, pr)
	pr.CloseWithError(err) // unblocks the writer when Put failed early
	if err != nil {
		return fmt.Errorf("save policy snapshot of %s: %w", app, err)
	}
	return nil
}

// LoadCheckpoint returns the stream position every app's snapshot covers
// (0 when none was written).
func LoadCheckpoint(ctx context.Context, obs jetstream.ObjectStore) (uint64, error) {
	data, err := obs.GetBytes(ctx, checkpointObject)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("policy compaction checkpoint: %w", err)
	}
	pos, err := strconv.ParseUint(string(data), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("policy compaction checkpoint %q: %w", data, err)
	}
	return pos, nil
}

// SaveCheckpoint records that every app's snapshot covers position.
func SaveCheckpoint(ctx context.Context, obs jetstream.ObjectStore, position uint64) error {
	if _, err := obs.PutBytes(ctx, checkpointObject, []byte(strconv.FormatUint(position, 10))); err != nil {
		return fmt.Errorf("save policy compaction checkpoint: %w", err)
	}
	return nil
}
