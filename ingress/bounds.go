package ingress

import (
	"fmt"
	"strings"

	"github.com/invitegate/invitegate/decider"
)

// Reasons of a string refused where it enters.
const (
	reasonFieldTooLong = "field_too_long" // over its bound (decider.Max*Bytes)
	reasonFieldNUL     = "field_nul"      // holds a NUL, which PostgreSQL cannot store
)

// checkLengths bounds every string of a callback where it enters, by IM's
// documented limits with a wide margin (see decider.MaxGroupIDBytes and the
// others), so that no value can outgrow what the projector stores and
// indexes: over a bound is a precise 400 naming the field. A NUL character
// (never in an IM id, and refused by PostgreSQL) is a 400 too, so that no
// decided callback leaves an event the projector cannot store.
func checkLengths(b *body, q *query, spec bodySpec) *bodyError {
	for _, f := range [...]struct {
		name string
		v    string
		max  int
	}{
		{"GroupId", b.groupID, decider.MaxGroupIDBytes},
		{"Type", b.groupType, decider.MaxGroupTypeBytes},
		{"Operator_Account", b.operator, decider.MaxAccountBytes},
		{spec.changeKey, b.changeType, decider.MaxChangeTypeBytes},
		{"OptPlatform", q.platform, decider.MaxPlatformBytes},
		{"ClientIP", q.clientIP, decider.MaxClientIPBytes},
	} {
		if be := checkString(f.name, f.v, f.max); be != nil {
			return be
		}
	}
	for i, m := range b.members {
		if len(m) > decider.MaxAccountBytes || strings.IndexByte(m, 0) >= 0 {
			return checkString(fmt.Sprintf("%s[%d].Member_Account", spec.listKey, i), m, decider.MaxAccountBytes)
		}
	}
	return nil
}

func checkString(field, v string, max int) *bodyError {
	switch {
	case len(v) > max:
		return tooLong(field, len(v), max)
	case strings.IndexByte(v, 0) >= 0:
		return &bodyError{reason: reasonFieldNUL, msg: field + " contains a NUL character"}
	}
	return nil
}

func tooLong(field string, n, max int) *bodyError {
	return &bodyError{reason: reasonFieldTooLong, msg: fmt.Sprintf("%s is %d bytes, more than %d", field, n, max)}
}
