package faults

import (
	"fmt"

	"github.com/invitegate/invitegate/cmd/internal/loadgen"
)

const maxExamples = 10

// judge classifies every record against the rows.
func judge(records []loadgen.Record, rows []row) Result {
	res := Result{Attempted: len(records), Unanswered: map[string]int{}}
	byKey := make(map[string]*loadgen.Record, len(records))
	runs := map[string]bool{}
	for i := range records {
		r := &records[i]
		byKey[r.Key] = r
		runs[runOf(r.Key)] = true
		if r.Answered() {
			res.Answered++
		} else {
			res.Unanswered[r.ErrorKind]++
		}
	}
	stored := make(map[string]int, len(rows))
	for i := range rows {
		x := &rows[i]
		key := RecordKey(x.groupID)
		if key == "" || !runs[runOf(key)] {
			res.Foreign++
			continue
		}
		rec, ok := byKey[key]
		if !ok {
			res.unexpected(key, "row of no request sent")
			continue
		}
		stored[key]++
		if why := mismatch(rec, x); why != "" {
			res.unexpected(key, why)
		}
	}
	for key, n := range stored {
		rec := byKey[key]
		if n > 1 {
			res.Duplicated++
			res.example(key, fmt.Sprintf("stored %d times", n))
		}
		if rec.Answered() {
			res.Stored++
		} else {
			res.Recovered++
		}
	}
	for i := range records {
		if r := &records[i]; r.Answered() && stored[r.Key] == 0 {
			res.Lost++
			res.example(r.Key, "answered, never stored")
		}
	}
	return res
}

func (r *Result) unexpected(key, why string) {
	r.Unexpected++
	r.example(key, why)
}

func (r *Result) example(key, why string) {
	if len(r.Examples) < maxExamples {
		r.Examples = append(r.Examples, key+": "+why)
	}
}

// kindOf is the event kind a request's command produces.
func kindOf(command string) string {
	switch command {
	case loadgen.CommandAfterNewMemberJoin:
		return "member_joined"
	case loadgen.CommandAfterMemberExit:
		return "member_exited"
	}
	return "invite"
}

// mismatch says how a stored row contradicts its request's answer ("" if not).
// An unanswered request's row is checked against the request only.
func mismatch(rec *loadgen.Record, x *row) string {
	switch {
	case x.kind != kindOf(rec.Command):
		return fmt.Sprintf("kind %s for command %s", x.kind, rec.Command)
	case x.operator != rec.Operator:
		return fmt.Sprintf("operator %q, sent %q", x.operator, rec.Operator)
	case x.members != len(rec.Members):
		return fmt.Sprintf("%d members, sent %d", x.members, len(rec.Members))
	case x.kind != "invite" || !rec.Answered():
		return ""
	case x.outcome != rec.Outcome:
		return fmt.Sprintf("outcome %s, answered %s", x.outcome, rec.Outcome)
	case x.code != int64(rec.ErrorCode):
		return fmt.Sprintf("error code %d, answered %d", x.code, rec.ErrorCode)
	case rec.Outcome == loadgen.OutcomePartial && x.refused != len(rec.Refused):
		return fmt.Sprintf("%d refused, answered %d", x.refused, len(rec.Refused))
	}
	return ""
}
