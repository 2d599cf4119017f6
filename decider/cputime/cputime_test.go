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
