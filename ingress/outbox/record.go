package outbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// A spool record is one batch, framed so that damage is detected and the
// records after it are still found:
//
//	magic   4 bytes  0xFF 'I' 'G' 'S' (0xFF never occurs in UTF-8 JSON)
//	length  4 bytes  little endian, payload length
//	crc     4 bytes  little endian, CRC-32C of the length bytes and payload
//	payload          version 1 | uvarint len, batch id | uvarint len, subject |
//	                 uvarint event count | NDJSON body
const (
	recordHeaderSize = 12
	recordVersion    = 1
	maxRecordPayload = maxBatchBytesLimit + 1<<10
)

var (
	recordMagic = []byte{0xFF, 'I', 'G', 'S'}
	castagnoli  = crc32.MakeTable(crc32.Castagnoli)

	errBadRecord = errors.New("bad spool record")
)

// appendRecord appends b framed as a record to dst.
func appendRecord(dst []byte, b *batch) []byte {
	start := len(dst)
	dst = append(dst, recordMagic...)
	dst = append(dst, make([]byte, 8)...) // length and crc, filled below
	dst = append(dst, recordVersion)
	dst = binary.AppendUvarint(dst, uint64(len(b.id)))
	dst = append(dst, b.id...)
	dst = binary.AppendUvarint(dst, uint64(len(b.subject)))
	dst = append(dst, b.subject...)
	dst = binary.AppendUvarint(dst, uint64(b.events))
	dst = append(dst, b.data...)
	hdr := dst[start : start+recordHeaderSize]
	binary.LittleEndian.PutUint32(hdr[4:8], uint32(len(dst)-start-recordHeaderSize))
	binary.LittleEndian.PutUint32(hdr[8:12], recordCRC(hdr[4:8], dst[start+recordHeaderSize:]))
	return dst
}

func recordCRC(length, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(length, castagnoli), castagnoli, payload)
}

// checkRecord verifies the frame at the start of rec (header and payload)
// and returns the payload.
func checkRecord(rec []byte) ([]byte, error) {
	if len(rec) < recordHeaderSize {
		return nil, fmt.Errorf("%w: truncated header", errBadRecord)
	}
	if !bytes.Equal(rec[:4], recordMagic) {
		return nil, fmt.Errorf("%w: bad magic", errBadRecord)
	}
	n := binary.LittleEndian.Uint32(rec[4:8])
	if n > maxRecordPayload {
		return nil, fmt.Errorf("%w: length %d too large", errBadRecord, n)
	}
	if uint64(len(rec)-recordHeaderSize) < uint64(n) {
		return nil, fmt.Errorf("%w: truncated payload (%d of %d bytes)", errBadRecord, len(rec)-recordHeaderSize, n)
	}
	payload := rec[recordHeaderSize : recordHeaderSize+int(n)]
	if recordCRC(rec[4:8], payload) != binary.LittleEndian.Uint32(rec[8:12]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errBadRecord)
	}
	return payload, nil
}

// decodeRecord turns a checked payload back into a batch.
func decodeRecord(p []byte) (*batch, error) {
	if len(p) == 0 || p[0] != recordVersion {
		return nil, fmt.Errorf("%w: unknown version", errBadRecord)
	}
	p = p[1:]
	id, p, ok := readBytes(p)
	subject, p, ok2 := readBytes(p)
	events, n := binary.Uvarint(p)
	if !ok || !ok2 || n <= 0 || len(id) == 0 || len(subject) == 0 || events == 0 {
		return nil, fmt.Errorf("%w: bad payload fields", errBadRecord)
	}
	return &batch{id: string(id), subject: string(subject), events: int(events), data: p[n:]}, nil
}

func readBytes(p []byte) (field, rest []byte, ok bool) {
	l, n := binary.Uvarint(p)
	if n <= 0 || uint64(len(p)-n) < l {
		return nil, nil, false
	}
	return p[n : n+int(l)], p[n+int(l):], true
}

// recordRef locates a good record in a segment file.
type recordRef struct {
	off    int64 // offset of the record's header
	size   int   // header plus payload
	events int
	held   bool // written from a batch in memory: replay skips it in this run
}

// corruption is a damaged stretch of a segment, skipped when scanning.
type corruption struct {
	off int64
	err error
}

// scanSegment finds the good records of a segment's bytes. After a damaged
// record it resumes at the next magic, so one bad record (or a torn write
// in the middle) costs only itself; a truncated tail ends the scan.
func scanSegment(data []byte) ([]recordRef, []corruption) {
	var (
		refs []recordRef
		bad  []corruption
	)
	off := 0
	for off < len(data) {
		payload, err := checkRecord(data[off:])
		if err == nil {
			var b *batch
			if b, err = decodeRecord(payload); err == nil {
				size := recordHeaderSize + len(payload)
				refs = append(refs, recordRef{off: int64(off), size: size, events: b.events})
				off += size
				continue
			}
		}
		bad = append(bad, corruption{off: int64(off), err: err})
		next := bytes.Index(data[off+1:], recordMagic)
		if next < 0 {
			break
		}
		off += 1 + next
	}
	return refs, bad
}
