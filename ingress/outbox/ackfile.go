package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// An ack file, <seq>.ack beside <seq>.seg, lists the records of the segment
// that JetStream acknowledged, so that a restart publishes only the others:
// entries of 12 bytes, the record's offset (8 bytes, little endian) and the
// CRC-32C of those 8 bytes. An entry that does not check (a torn tail after
// a crash) is ignored: its record is published again, a copy that the
// projector and the statistics skip by event id, never a loss.
const (
	ackSuffix    = ".ack"
	ackEntrySize = 12
	// maxAckFileBytes bounds what a scan reads: a segment of
	// SpoolSegmentBytes cannot hold more records than this many bytes of
	// entries (each record is far larger than an entry).
	maxAckFileBytes = 64 << 20
)

// ackMark is one acknowledged record, waiting to be written to its ack file.
type ackMark struct {
	seg *segment
	off int64
}

func ackPath(segPath string) string { return strings.TrimSuffix(segPath, segSuffix) + ackSuffix }

// readAcks returns the offsets listed in the ack file at path (none if it
// does not exist).
func readAcks(path string) (map[int64]bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open spool ack file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat spool ack file: %w", err)
	}
	size := min(fi.Size(), maxAckFileBytes)
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil && int64(len(data)) != size {
		return nil, fmt.Errorf("read spool ack file: %w", err)
	}
	acked := make(map[int64]bool, len(data)/ackEntrySize)
	for len(data) >= ackEntrySize {
		e := data[:ackEntrySize]
		data = data[ackEntrySize:]
		if recordCRC(nil, e[:8]) == binary.LittleEndian.Uint32(e[8:]) {
			acked[int64(binary.LittleEndian.Uint64(e[:8]))] = true
		}
	}
	return acked, nil
}

// markAcked appends the marks to the ack files of their segments, one write
// per segment (segments already removed are skipped).
func (sp *spool) markAcked(marks []ackMark) error {
	var errs []error
	for len(marks) > 0 {
		seg := marks[0].seg
		var buf []byte
		rest := marks[:0]
		for _, m := range marks {
			if m.seg != seg {
				rest = append(rest, m)
				continue
			}
			buf = binary.LittleEndian.AppendUint64(buf, uint64(m.off))
			buf = binary.LittleEndian.AppendUint32(buf, recordCRC(nil, buf[len(buf)-8:]))
		}
		marks = rest
		if seg.removed {
			continue
		}
		errs = append(errs, sp.appendAcks(seg, buf))
	}
	return errors.Join(errs...)
}

func (sp *spool) appendAcks(seg *segment, buf []byte) error {
	if seg.ackf == nil {
		f, err := os.OpenFile(ackPath(seg.path), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("open spool ack file: %w", err)
		}
		seg.ackf = f
	}
	if _, err := seg.ackf.Write(buf); err != nil {
		return fmt.Errorf("write spool ack file: %w", err)
	}
	sp.ackDirty = append(sp.ackDirty, seg)
	return nil
}

// syncAcks fsyncs the ack files written since the last call.
func (sp *spool) syncAcks() error {
	var errs []error
	for _, seg := range sp.ackDirty {
		if seg.ackf != nil {
			if err := seg.ackf.Sync(); err != nil {
				errs = append(errs, fmt.Errorf("fsync spool ack file: %w", err))
			}
		}
	}
	sp.ackDirty = sp.ackDirty[:0]
	return errors.Join(errs...)
}

func (sp *spool) closeAck(seg *segment) {
	if seg.ackf != nil {
		seg.ackf.Close()
		seg.ackf = nil
	}
}

// removeOrphanAcks deletes ack files whose segment is gone (a crash between
// the two removals), keeping their numbers out of use.
func (sp *spool) removeOrphanAcks(entries []os.DirEntry) error {
	for _, e := range entries {
		name := e.Name()
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, ackSuffix), 10, 64)
		if e.IsDir() || !strings.HasSuffix(name, ackSuffix) || err != nil {
			continue
		}
		sp.nextSeq = max(sp.nextSeq, seq+1)
		if _, err := os.Stat(filepath.Join(sp.dir, strings.TrimSuffix(name, ackSuffix)+segSuffix)); err == nil {
			continue
		}
		if err := os.Remove(filepath.Join(sp.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove orphan spool ack file: %w", err)
		}
	}
	return nil
}
