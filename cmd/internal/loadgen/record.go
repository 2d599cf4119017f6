package loadgen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// Record is one line of the record file: a request sent and what came of it,
// written when it completes (so lines are in completion order, not Seq order).
//
// IM sends no request id, so the body itself is made unique: GroupID ends in
// "." + Key, and Key is RunID + "." + Seq. A checker finds the stored event
// of an answered invite by its group id (with App and Operator to be sure).
type Record struct {
	Key        string    `json:"key"`
	Seq        int64     `json:"seq"`
	App        string    `json:"app"`
	Command    string    `json:"command"`
	GroupID    string    `json:"group_id"`
	GroupType  string    `json:"group_type"`
	Operator   string    `json:"operator"`
	Members    []string  `json:"members"`
	ChangeType string    `json:"change_type,omitempty"`
	Platform   string    `json:"platform"`
	ClientIP   string    `json:"client_ip"`
	EventTime  string    `json:"event_time"` // as sent: ms since the epoch
	Intended   time.Time `json:"intended"`   // when it was due (open-loop schedule)
	Sent       time.Time `json:"sent"`
	Status     int       `json:"status,omitempty"` // 0 when no HTTP answer came
	Outcome    string    `json:"outcome"`          // allow, partial, reject, ok or error
	ErrorKind  string    `json:"error_kind,omitempty"`
	Error      string    `json:"error,omitempty"`
	ErrorCode  int       `json:"error_code"`
	Refused    []string  `json:"refused,omitempty"`
	LatencyUs  int64     `json:"latency_us"` // from Intended
	ServiceUs  int64     `json:"service_us"` // from Sent
}

// Answered reports whether IM would have taken the answer (HTTP 200 and a
// valid JSON answer): the requests a checker must find stored.
func (r *Record) Answered() bool { return r.Outcome != OutcomeError }

// ReadRecords reads a record file's lines.
func ReadRecords(rd io.Reader) ([]Record, error) {
	var out []Record
	dec := json.NewDecoder(rd)
	for dec.More() {
		var rec Record
		if err := dec.Decode(&rec); err != nil {
			return out, fmt.Errorf("record %d: %w", len(out)+1, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

func newRecord(app string, res *result) Record {
	d := res.d
	return Record{
		Key: d.key, Seq: d.seq, App: app, Command: d.command,
		GroupID: d.groupID, GroupType: d.groupType, Operator: d.operator,
		Members: d.members, ChangeType: d.changeType,
		Platform: d.platform, ClientIP: d.clientIP,
		EventTime: strconv.FormatInt(res.eventTimeMs, 10),
		Intended:  res.intended.UTC(), Sent: res.sent.UTC(),
		Status: res.status, Outcome: res.outcome,
		ErrorKind: res.errKind, Error: res.errMsg,
		ErrorCode: res.errorCode, Refused: res.refused,
		LatencyUs: res.latency.Microseconds(), ServiceUs: res.service.Microseconds(),
	}
}

// recorder writes Records as JSON lines, buffered, safe for concurrent use.
type recorder struct {
	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer
	err error // first write error; later writes are dropped
}

func openRecorder(path string) (*recorder, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create record file: %w", err)
	}
	return &recorder{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

// write appends one line and returns the recorder's first error, if any.
func (rc *recorder) write(rec *Record) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.err == nil {
		if _, err := rc.w.Write(append(line, '\n')); err != nil {
			rc.err = fmt.Errorf("write record file: %w", err)
		}
	}
	return rc.err
}

// close flushes and closes the file.
func (rc *recorder) close() error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err := rc.w.Flush(); err != nil && rc.err == nil {
		rc.err = fmt.Errorf("flush record file: %w", err)
	}
	if err := rc.f.Close(); err != nil && rc.err == nil {
		rc.err = fmt.Errorf("close record file: %w", err)
	}
	return rc.err
}
