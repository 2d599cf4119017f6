package outbox

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// The spool is a directory of segment files named <seq>.seg, each a run of
// records (see record.go), written in order and replayed oldest first.
// A segment is deleted once every record in it has been loaded and
// acknowledged. Beside a segment, <seq>.ack lists the offsets of its
// acknowledged records (ackfile.go), appended as PubAcks come; a restart
// loads only the records not listed, so a partly acknowledged segment is
// never published whole again.
//
// Fsync policy: the open segment and the ack files are fsynced every
// SpoolSyncInterval while they have unsynced writes, when the segment is
// closed (rotation) and at Stop; a sync batch's record is fsynced before its
// callers are answered. A killed process loses nothing written (the OS has
// it); a power loss can lose the last interval of async spooled batches, as
// it loses whatever was only in memory, and the last interval of
// acknowledgement marks (those records are then published again: copies,
// which the projector and the statistics skip by event id).
//
// Only the outbox's spool goroutine (and Start/Stop while it is not running)
// touch files; the counters of a segment are guarded by the outbox's mutex.
type spool struct {
	dir      string
	segBytes int64
	segs     []*segment // oldest first
	cur      *segment   // the segment being written, or nil
	nextSeq  uint64
	bytes    int64      // total size of the segment files
	dirty    bool       // cur has writes not yet fsynced
	lock     *os.File   // holds the directory's lock file, flock'ed exclusively
	ackDirty []*segment // segments whose ack file has writes not yet fsynced
}

// lockName is the spool directory's lock file: one outbox per directory,
// since two would replay and remove each other's segments.
const lockName = "LOCK"

// ErrSpoolLocked is wrapped by Start's error when another process (or
// outbox) uses the same spool directory.
var ErrSpoolLocked = errors.New("spool directory in use by another outbox")

// lockDir takes dir's lock file without waiting.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open spool lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s (is another invitegate running with the same --data-dir?)", ErrSpoolLocked, dir)
		}
		return nil, fmt.Errorf("lock spool dir %s: %w", dir, err)
	}
	return f, nil
}

type segment struct {
	seq     uint64
	path    string
	size    int64
	refs    []recordRef
	next    int // index in refs of the next record to load
	pending int // loaded records not yet acknowledged
	f       *os.File
	ackf    *os.File // its ack file, open for appending, or nil
	removed bool     // deleted: late acknowledgements are ignored
}

// unreadEvents counts the events of records not loaded yet.
func (s *segment) unreadEvents() (n int) {
	for _, r := range s.refs[s.next:] {
		n += r.events
	}
	return n
}

// finished reports whether every record of s is loaded (or was written
// from memory) and acknowledged.
func (s *segment) finished() bool {
	for s.next < len(s.refs) && s.refs[s.next].held {
		s.next++
	}
	return s.next == len(s.refs) && s.pending == 0
}

const segSuffix = ".seg"

// openSpool scans the segments in dir, reporting damaged stretches to
// onCorrupt; segments without a good record are removed.
func openSpool(dir string, segBytes int64, onCorrupt func(path string, c corruption)) (*spool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create spool dir: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	sp, err := scanSpool(dir, segBytes, onCorrupt)
	if err != nil {
		lock.Close()
		return nil, err
	}
	sp.lock = lock
	return sp, nil
}

// scanSpool reads the segments of dir (see openSpool).
func scanSpool(dir string, segBytes int64, onCorrupt func(path string, c corruption)) (*spool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read spool dir: %w", err)
	}
	sp := &spool{dir: dir, segBytes: segBytes, nextSeq: 1}
	for _, e := range entries {
		seq, err := strconv.ParseUint(strings.TrimSuffix(e.Name(), segSuffix), 10, 64)
		if e.IsDir() || !strings.HasSuffix(e.Name(), segSuffix) || err != nil {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read spool segment: %w", err)
		}
		refs, bad := scanSegment(data)
		for _, c := range bad {
			onCorrupt(path, c)
		}
		sp.nextSeq = max(sp.nextSeq, seq+1)
		acked, err := readAcks(ackPath(path))
		if err != nil {
			return nil, err
		}
		refs = slices.DeleteFunc(refs, func(r recordRef) bool { return acked[r.off] })
		if len(refs) == 0 {
			if err := removeSegmentFiles(path); err != nil {
				return nil, fmt.Errorf("remove finished spool segment: %w", err)
			}
			continue
		}
		sp.segs = append(sp.segs, &segment{seq: seq, path: path, size: int64(len(data)), refs: refs})
		sp.bytes += int64(len(data))
	}
	if err := sp.removeOrphanAcks(entries); err != nil {
		return nil, err
	}
	slices.SortFunc(sp.segs, func(a, b *segment) int { return compareUint(a.seq, b.seq) })
	return sp, nil
}

func compareUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// room is how many bytes the current segment takes before it rotates.
func (sp *spool) room() int64 {
	if sp.cur == nil {
		return sp.segBytes
	}
	return sp.segBytes - sp.cur.size
}

// write appends buf, holding the records refs (offsets relative to buf),
// to the current segment in one write, starting a segment if needed, and
// rotates it once it is full. It returns the segment written and the
// offset of buf in it.
func (sp *spool) write(buf []byte, refs []recordRef) (*segment, int64, error) {
	if sp.cur == nil {
		seg := &segment{seq: sp.nextSeq, path: filepath.Join(sp.dir, fmt.Sprintf("%020d%s", sp.nextSeq, segSuffix))}
		f, err := os.OpenFile(seg.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return nil, 0, fmt.Errorf("create spool segment: %w", err)
		}
		sp.nextSeq++
		seg.f = f
		sp.cur = seg
		sp.segs = append(sp.segs, seg)
	}
	seg := sp.cur
	base := seg.size
	n, err := seg.f.WriteAt(buf, base)
	seg.size += int64(n)
	sp.bytes += int64(n)
	sp.dirty = true
	if err != nil {
		// The torn records are skipped by the next scan; write on in a new segment.
		return nil, 0, errors.Join(fmt.Errorf("write spool segment: %w", err), sp.rotate())
	}
	for _, r := range refs {
		r.off += base
		seg.refs = append(seg.refs, r)
	}
	if seg.size >= sp.segBytes {
		return seg, base, sp.rotate()
	}
	return seg, base, nil
}

// rotate fsyncs and closes the current segment; the next write starts a new one.
func (sp *spool) rotate() error {
	seg := sp.cur
	if seg == nil {
		return nil
	}
	err := sp.sync()
	sp.cur = nil
	if cerr := seg.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close spool segment: %w", cerr)
	}
	seg.f = nil
	return err
}

// sync fsyncs the current segment if it has unsynced writes, and the ack
// files written since the last sync.
func (sp *spool) sync() error {
	err := sp.syncAcks()
	if sp.cur == nil || !sp.dirty {
		return err
	}
	sp.dirty = false
	if serr := sp.cur.f.Sync(); serr != nil {
		return errors.Join(err, fmt.Errorf("fsync spool segment: %w", serr))
	}
	return err
}

// read loads the record at ref of seg.
func (sp *spool) read(seg *segment, ref recordRef) (*batch, error) {
	if seg.f == nil {
		f, err := os.Open(seg.path)
		if err != nil {
			return nil, fmt.Errorf("open spool segment: %w", err)
		}
		seg.f = f
	}
	buf := make([]byte, ref.size)
	if n, err := seg.f.ReadAt(buf, ref.off); n < len(buf) {
		return nil, fmt.Errorf("read spool segment: %w", cmp.Or(err, io.ErrUnexpectedEOF))
	}
	payload, err := checkRecord(buf)
	if err != nil {
		return nil, err
	}
	b, err := decodeRecord(payload)
	if err != nil {
		return nil, err
	}
	b.seg = seg
	return b, nil
}

// doneReading closes seg's file once every record is loaded (unless it is
// still being written).
func (sp *spool) doneReading(seg *segment) {
	if seg != sp.cur && seg.f != nil && seg.next == len(seg.refs) {
		seg.f.Close()
		seg.f = nil
	}
}

// remove deletes a finished segment.
func (sp *spool) remove(seg *segment) error {
	if seg == sp.cur {
		sp.cur, sp.dirty = nil, false
	}
	if seg.f != nil {
		seg.f.Close()
		seg.f = nil
	}
	sp.closeAck(seg)
	seg.removed = true
	sp.segs = slices.DeleteFunc(sp.segs, func(s *segment) bool { return s == seg })
	sp.bytes -= seg.size
	if err := removeSegmentFiles(seg.path); err != nil {
		return fmt.Errorf("remove spool segment: %w", err)
	}
	return nil
}

// removeSegmentFiles deletes a segment file, then its ack file (an ack file
// left without its segment by a crash is removed by the next scan).
func removeSegmentFiles(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Remove(ackPath(path)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// close fsyncs the current segment, closes every file and releases the
// directory's lock.
func (sp *spool) close() error {
	err := errors.Join(sp.rotate(), sp.syncAcks())
	for _, seg := range sp.segs {
		if seg.f != nil {
			seg.f.Close()
			seg.f = nil
		}
		sp.closeAck(seg)
	}
	if sp.lock != nil {
		sp.lock.Close() // closing the descriptor releases the flock
		sp.lock = nil
	}
	return err
}
