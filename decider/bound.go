package decider

import (
	"context"
	"errors"
	"time"

	"github.com/google/cel-go/interpreter"
)

// Run-time bounds of one decision. Engine.Decide gives every decision a
// deadline (its decision timeout, default DefaultDecisionTimeout). The
// evaluation checks it between rules and every checkEvery members, and a
// CEL leaf that loops (a comprehension) is interrupted at the deadline
// (cel.InterruptCheckFrequency with the decision's context). A decision
// past it stops at once and reports LimitDecisionTimeout; the Engine then
// answers by the fail mode. (Why no cel.CostLimit: see
// DefaultRuleCostBudget.)

// interruptCheckEvery is how many comprehension iterations run between two
// looks at the deadline.
const interruptCheckEvery = 64

// checkEvery is how many members the member loops judge between two looks
// at the deadline.
const checkEvery = 32

// setDeadline gives the evaluation its deadline (zero: none).
func (ev *evaluation) setDeadline(deadline time.Time) {
	ev.deadline, ev.limit = deadline, ""
}

// expired reports whether the decision must stop: a limit was hit, or the
// deadline has passed (then it records LimitDecisionTimeout).
func (ev *evaluation) expired() bool {
	if ev.limit != "" {
		return true
	}
	if !ev.deadline.IsZero() && !time.Now().Before(ev.deadline) {
		ev.limit = LimitDecisionTimeout
		return true
	}
	return false
}

// context returns the decision's context for interruptible programs,
// created on first use (most decisions run no looping leaf).
func (ev *evaluation) context() context.Context {
	if ev.ctx == nil {
		if ev.deadline.IsZero() {
			ev.ctx, ev.cancel = context.Background(), func() {}
		} else {
			ev.ctx, ev.cancel = context.WithDeadline(context.Background(), ev.deadline)
		}
	}
	return ev.ctx
}

// endBounds releases the decision's context.
func (ev *evaluation) endBounds() {
	if ev.cancel != nil {
		ev.cancel()
	}
	ev.ctx, ev.cancel, ev.deadline = nil, nil, time.Time{}
}

// boundErr records the limit a guarded program's error reports, if any.
func (ev *evaluation) boundErr(err error) {
	var ce interpreter.EvalCancelledError
	if errors.Is(err, interpreter.InterruptError{}) || errors.As(err, &ce) {
		ev.limit = LimitDecisionTimeout
	}
}
