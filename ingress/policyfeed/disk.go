package policyfeed

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/policystore"
)

// diskStore keeps a replica's last good snapshot in one file, replaced
// atomically (write a temporary file, fsync, rename, fsync the directory).
type diskStore struct {
	path  string
	trust string // the fingerprint of the trust the snapshots are folded under
}

func newDiskStore(dataDir, app, trust string) diskStore {
	return diskStore{path: filepath.Join(dataDir, "policy", policystore.SanitizeID(app)+".json"), trust: trust}
}

// load returns the snapshot on disk and its position; nil when there is none.
func (d diskStore) load() (*decider.Snapshot, uint64, error) {
	f, err := os.Open(d.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open policy snapshot: %w", err)
	}
	defer f.Close()
	s, meta, err := decider.ReadStateMeta(f)
	if err != nil {
		return nil, 0, fmt.Errorf("policy snapshot %s: %w", d.path, err)
	}
	if meta.Trust != d.trust {
		return nil, 0, fmt.Errorf("policy snapshot %s was folded under trust %q, not this replica's %q (--policy-trust changed): not used", d.path, meta.Trust, d.trust)
	}
	return s, meta.Position, nil
}

func (d diskStore) save(s *decider.Snapshot, position uint64) error {
	dir := filepath.Dir(d.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save policy snapshot: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".policy-*.tmp")
	if err != nil {
		return fmt.Errorf("save policy snapshot: %w", err)
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	if err := decider.WriteStateMeta(tmp, s, decider.StateMeta{Position: position, Trust: d.trust}); err != nil {
		tmp.Close()
		return fmt.Errorf("save policy snapshot: %w", err)
	}
	if err := errors.Join(tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("save policy snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), d.path); err != nil {
		return fmt.Errorf("save policy snapshot: %w", err)
	}
	if dirf, err := os.Open(dir); err == nil {
		_ = dirf.Sync() // best effort: the rename is durable on the next fsync anyway
		dirf.Close()
	}
	return nil
}

// saver writes the newest snapshot offered to disk in its own goroutine,
// at most once per interval, so the apply path never waits for the disk.
type saver struct {
	disk     diskStore
	interval time.Duration
	logger   *slog.Logger
	m        *metrics

	mu      sync.Mutex
	pending *decider.Snapshot
	pos     uint64
	wake    chan struct{}
}

func newSaver(disk diskStore, interval time.Duration, logger *slog.Logger, m *metrics) *saver {
	return &saver{disk: disk, interval: interval, logger: logger, m: m, wake: make(chan struct{}, 1)}
}

// offer makes s (covering the log up to pos) the next snapshot to write.
func (s *saver) offer(snap *decider.Snapshot, pos uint64) {
	s.mu.Lock()
	s.pending, s.pos = snap, pos
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *saver) take() (*decider.Snapshot, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap, pos := s.pending, s.pos
	s.pending = nil
	return snap, pos
}

// run writes offered snapshots until ctx ends (the owner then calls
// flush once more, after the last offer).
func (s *saver) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		start := time.Now()
		s.flush()
		// A big policy takes a while to write: keep the disk busy at most a
		// fifth of the time, however fast events arrive.
		if wait := max(s.interval, 4*time.Since(start)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

func (s *saver) flush() {
	snap, pos := s.take()
	if snap == nil {
		return
	}
	if err := s.disk.save(snap, pos); err != nil {
		s.m.saves.WithLabelValues("error").Inc()
		s.logger.Error("policy snapshot not saved to disk", "path", s.disk.path, "revision", snap.Revision(), "err", err)
		return
	}
	s.m.saves.WithLabelValues("ok").Inc()
	s.logger.Debug("policy snapshot saved to disk", "path", s.disk.path, "revision", snap.Revision())
}
