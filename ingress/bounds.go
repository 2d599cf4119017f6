package ingress

import (
	"fmt"

	"github.com/invitegate/invitegate/decider"
)

// reasonFieldTooLong labels a string over its bound (decider.Max*Bytes).
const reasonFieldTooLong = "field_too_long"

// checkLengths bounds every string of a callback where it enters, by IM's
// documented limits with a wide margin (see decider.MaxGroupIDBytes and the
// others), so that no value can outgrow what the projector stores and
// indexes: over a bound is a precise 400 naming the field.
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
		if len(f.v) > f.max {
			return tooLong(f.name, len(f.v), f.max)
		}
	}
	for i, m := range b.members {
		if len(m) > decider.MaxAccountBytes {
			return tooLong(fmt.Sprintf("%s[%d].Member_Account", spec.listKey, i), len(m), decider.MaxAccountBytes)
		}
	}
	return nil
}

func tooLong(field string, n, max int) *bodyError {
	return &bodyError{reason: reasonFieldTooLong, msg: fmt.Sprintf("%s is %d bytes, more than %d", field, n, max)}
}
