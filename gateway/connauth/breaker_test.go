package connauth

import (
	"testing"
	"time"
)

func TestBreakerOpensCoolsDownAndCloses(t *testing.T) {
	now := time.Unix(1000, 0)
	b := &breaker{threshold: 3, coolDown: 10 * time.Second, now: func() time.Time { return now }}
	step := func(want BreakerState) {
		t.Helper()
		if got := b.state(); got != want {
			t.Fatalf("state %v, want %v", got, want)
		}
	}
	// Failures below the threshold, interrupted by a success, keep it
	// closed.
	for range 2 {
		if !b.allow() {
			t.Fatal("closed breaker refused a call")
		}
		b.report(false)
	}
	b.report(true)
	for range 2 {
		b.report(false)
	}
	step(BreakerClosed)
	if !b.report(false) { // third consecutive
		t.Fatal("opening not reported as a change")
	}
	step(BreakerOpen)
	if b.report(false) {
		t.Fatal("a failure while open reported as a change")
	}
	if b.allow() {
		t.Fatal("open breaker let a call through")
	}
	now = now.Add(9 * time.Second)
	if b.allow() {
		t.Fatal("call let through before the cool-down ended")
	}
	now = now.Add(time.Second)
	step(BreakerHalfOpen)
	if !b.allow() {
		t.Fatal("half-open breaker refused the probe")
	}
	if b.allow() {
		t.Fatal("a second call went through while the probe is in flight")
	}
	b.report(false) // the probe fails: open again for a whole cool-down
	step(BreakerOpen)
	now = now.Add(10 * time.Second)
	if !b.allow() {
		t.Fatal("no probe after the second cool-down")
	}
	if !b.report(true) {
		t.Fatal("closing not reported as a change")
	}
	step(BreakerClosed)
	if !b.allow() || !b.allow() {
		t.Fatal("closed breaker refused calls")
	}
}
