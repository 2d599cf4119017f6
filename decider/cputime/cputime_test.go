package cputime_test

import (
	"os"
	"testing"
	"time"

	"github.com/invitegate/invitegate/decider/cputime"
)

func TestSelfAndOf(t *testing.T) {
	t.Parallel()
	self0 := cputime.Self()
	of0, err := cputime.Of(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for busy := time.Now(); time.Since(busy) < 50*time.Millisecond; { // burn some CPU
	}
	if d := cputime.Self() - self0; d <= 0 {
		t.Errorf("Self grew by %v after 50ms of work", d)
	}
	if of1, err := cputime.Of(os.Getpid()); err != nil || of1 < of0 {
		t.Errorf("Of = %v, %v; was %v", of1, err, of0)
	}
	if _, err := cputime.Of(-1); err == nil {
		t.Error("Of(-1) succeeded")
	}
}

func TestHostIdleShare(t *testing.T) {
	t.Parallel()
	idle0, total0, err := cputime.Host()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		idle1, total1, err := cputime.Host()
		if err != nil {
			t.Fatal(err)
		}
		if idle1 < idle0 || total1 < total0 || idle1-idle0 > total1-total0 {
			t.Fatalf("Host went from idle %v total %v to idle %v total %v", idle0, total0, idle1, total1)
		}
		if total1 > total0 {
			if s := cputime.IdleShare(idle0, total0, idle1, total1); s < 0 || s > 1 {
				t.Fatalf("IdleShare = %v", s)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the machine's CPU time did not grow in 5 s")
		}
		for busy := time.Now(); time.Since(busy) < 20*time.Millisecond; { // let the clock tick
		}
	}
	if s := cputime.IdleShare(1, 2, 1, 2); s != 0 {
		t.Errorf("IdleShare of equal readings = %v", s)
	}
	if s := cputime.IdleShare(0, 0, time.Second, 4*time.Second); s != 0.25 {
		t.Errorf("IdleShare = %v, want 0.25", s)
	}
}
