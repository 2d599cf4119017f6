package startstop

import (
	"errors"
	"sync"
)

// ErrStopped is returned by Start after Stop: a component runs once.
var ErrStopped = errors.New("component stopped: it does not start again")

type phase uint8

const (
	phaseNew phase = iota
	phaseStarted
	phaseStopped
)

// State is the lifecycle of one component: new, started, stopped. The zero
// value is a new component. Start and Stop run their function holding the
// State's lock, so a Start and a Stop never overlap: a Start that arrives
// while Stop runs waits, then returns ErrStopped.
type State struct {
	mu    sync.Mutex
	phase phase
}

// Start runs start if the component is new and marks it started when start
// returns nil; when start fails the component stays new and may be started
// again. Start returns nil without running start when the component is
// already started, and ErrStopped after Stop.
func (s *State) Start(start func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.phase {
	case phaseStarted:
		return nil
	case phaseStopped:
		return ErrStopped
	}
	if err := start(); err != nil {
		return err
	}
	s.phase = phaseStarted
	return nil
}

// Stop marks the component stopped and, the first time only and if Start
// had succeeded, runs stop and returns its error. Later calls, and a Stop
// before any Start, return nil without running it.
func (s *State) Stop(stop func() error) error {
	return s.StopAny(func(started bool) error {
		if !started {
			return nil
		}
		return stop()
	})
}

// StopAny is Stop for a component that has work to do even when it never
// started (the outbox spools what was enqueued before Start): the first
// call runs stop, telling it whether Start had succeeded; later calls
// return nil without running it.
func (s *State) StopAny(stop func(started bool) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase == phaseStopped {
		return nil
	}
	started := s.phase == phaseStarted
	s.phase = phaseStopped
	return stop(started)
}
