package policystore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/natsconn"
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

// ErrSnapshotRefused is wrapped by LoadSnapshot's errors about a compacted
// snapshot that exists but must not be used: its position is beyond the
// stream's last sequence, or trust is enabled and it is not signed by a key
// trusted for snapshots, under the same trust, or its content differs from
// what was signed.
var ErrSnapshotRefused = errors.New("compacted policy snapshot refused")

// Metadata of a signed compacted snapshot (see decider.SnapshotSigningInput).
const (
	metaTrust     = "trust"
	metaDigest    = "sha256"
	metaKey       = "key"
	metaSignature = "signature"
)

// SnapshotSeal is how the compactor signs the snapshots it writes: Key
// (nil: unsigned) and the fingerprint of the trust it checked events
// against.
type SnapshotSeal struct {
	Key   *decider.SigningKey
	Trust string
}

// LoadSnapshot returns app's compacted snapshot and the position it covers
// when that position is beyond after; else nil. A snapshot beyond the
// stream's last sequence is refused; with trust enabled, so is one not
// signed by a key trusted for snapshots of app, folded under another trust,
// or whose content differs from what was signed (ErrSnapshotRefused).
func LoadSnapshot(ctx context.Context, st natsconn.PolicyStores, app string, after uint64, trust *decider.Trust) (*decider.Snapshot, uint64, error) {
	info, ok, err := StatSnapshot(ctx, st.Snapshots, app)
	if err != nil || !ok || info.Position <= after {
		return nil, 0, err
	}
	sinfo, err := st.Stream.Info(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("policy stream info: %w", err)
	}
	if last := sinfo.State.LastSeq; info.Position > last {
		return nil, 0, fmt.Errorf("%w: app %s: its position %d is beyond the stream's last sequence %d", ErrSnapshotRefused, app, info.Position, last)
	}
	res, err := st.Snapshots.Get(ctx, SnapshotObject(app))
	if err != nil {
		return nil, 0, fmt.Errorf("policy snapshot of %s: %w", app, err)
	}
	defer res.Close()
	oinfo, err := res.Info()
	if err != nil {
		return nil, 0, fmt.Errorf("policy snapshot of %s: %w", app, err)
	}
	meta := oinfo.Metadata
	if trust.Enabled() {
		if err := checkSeal(trust, app, meta); err != nil {
			return nil, 0, fmt.Errorf("%w: app %s: %w", ErrSnapshotRefused, app, err)
		}
	}
	h := sha256.New()
	snap, smeta, err := decider.ReadStateMeta(io.TeeReader(res, h))
	if err != nil {
		return nil, 0, fmt.Errorf("policy snapshot of %s: %w", app, err)
	}
	if _, err := io.Copy(h, res); err != nil {
		return nil, 0, fmt.Errorf("policy snapshot of %s: %w", app, err)
	}
	if trust.Enabled() && hex.EncodeToString(h.Sum(nil)) != meta[metaDigest] {
		return nil, 0, fmt.Errorf("%w: app %s: its content is not what was signed", ErrSnapshotRefused, app)
	}
	if strconv.FormatUint(smeta.Position, 10) != meta[metaPosition] || strconv.FormatUint(snap.Revision(), 10) != meta[metaRevision] {
		return nil, 0, fmt.Errorf("%w: app %s: its content covers revision %d, position %d, not what its metadata says",
			ErrSnapshotRefused, app, snap.Revision(), smeta.Position)
	}
	return snap, smeta.Position, nil
}

// checkSeal checks the signature in a snapshot's metadata.
func checkSeal(trust *decider.Trust, app string, meta map[string]string) error {
	if want := trust.Fingerprint(app); meta[metaTrust] != want {
		return fmt.Errorf("folded under trust %q, this reader's is %q (the compactor's --policy-trust differs)", meta[metaTrust], want)
	}
	rev, err1 := strconv.ParseUint(meta[metaRevision], 10, 64)
	pos, err2 := strconv.ParseUint(meta[metaPosition], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("bad metadata: %w", err)
	}
	return trust.VerifySnapshot(app, rev, pos, meta[metaTrust], meta[metaDigest], meta[metaKey], meta[metaSignature])
}

// SaveSnapshot writes app's compacted snapshot s covering the log up to
// position, streaming it (a 1,000,000-entry list is not held twice). With
// seal.Key it is signed in the same write: the state is encoded once to
// hash it and once more to store it, so no reader ever meets the snapshot
// unsigned.
func SaveSnapshot(ctx context.Context, obs jetstream.ObjectStore, app string, s *decider.Snapshot, position uint64, seal SnapshotSeal) error {
	position = max(position, s.Revision())
	meta := jetstream.ObjectMeta{Name: SnapshotObject(app), Metadata: map[string]string{
		metaRevision: strconv.FormatUint(s.Revision(), 10),
		metaPosition: strconv.FormatUint(position, 10),
	}}
	if seal.Key != nil {
		h := sha256.New()
		if err := decider.WriteState(h, s, position); err != nil {
			return fmt.Errorf("save policy snapshot of %s: %w", app, err)
		}
		digest := hex.EncodeToString(h.Sum(nil))
		key, sig := seal.Key.SignSnapshot(app, s.Revision(), position, seal.Trust, digest)
		meta.Metadata[metaTrust], meta.Metadata[metaDigest] = seal.Trust, digest
		meta.Metadata[metaKey], meta.Metadata[metaSignature] = key, sig
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(decider.WriteState(pw, s, position)) }()
	_, err := obs.Put(ctx, meta, pr)
	pr.CloseWithError(err) // unblocks the writer when Put failed early
	if err != nil {
		return fmt.Errorf("save policy snapshot of %s: %w", app, err)
	}
	return nil
}

// DeleteSnapshot removes app's compacted snapshot (none is not an error):
// replicas then start from the log alone.
func DeleteSnapshot(ctx context.Context, obs jetstream.ObjectStore, app string) error {
	if err := obs.Delete(ctx, SnapshotObject(app)); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("delete policy snapshot of %s: %w", app, err)
	}
	return nil
}

// SnapshotApps lists the apps that have a compacted snapshot, each with
// the NUID of its object (a new one at every write).
func SnapshotApps(ctx context.Context, obs jetstream.ObjectStore) (map[string]string, error) {
	infos, err := obs.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list policy snapshots: %w", err)
	}
	apps := map[string]string{}
	for _, info := range infos {
		if app, ok := strings.CutPrefix(info.Name, SnapshotObject("")); ok && !info.Deleted {
			apps[app] = info.NUID
		}
	}
	return apps, nil
}

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
