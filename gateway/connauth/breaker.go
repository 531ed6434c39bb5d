package connauth

import (
	"sync"
	"time"
)

// BreakerState is the state of a Hook's circuit breaker.
type BreakerState int

// The breaker's states.
const (
	// BreakerClosed: calls go to the backend.
	BreakerClosed BreakerState = iota
	// BreakerOpen: the backend failed too often; no call goes to it until
	// the cool-down ends.
	BreakerOpen
	// BreakerHalfOpen: the cool-down ended; one probe call goes to the
	// backend, whose outcome closes or reopens the breaker.
	BreakerHalfOpen
)

// String names the state.
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "unknown"
}

// breaker opens after threshold consecutive failures, stays open for
// coolDown, then lets one probe through at a time until one succeeds.
type breaker struct {
	threshold int
	coolDown  time.Duration
	now       func() time.Time

	mu       sync.Mutex
	failures int // consecutive
	open     bool
	until    time.Time // end of the cool-down, when open
	probing  bool      // a half-open probe is in flight
}

// allow reports whether a call may go to the backend; a true answer in
// the half-open state makes the caller the probe, which must report.
func (b *breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return true
	}
	if b.now().Before(b.until) || b.probing {
		return false
	}
	b.probing = true
	return true
}

// report records a call's outcome; changed tells whether it opened a
// closed breaker or closed an open one.
func (b *breaker) report(ok bool) (changed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	was := b.open
	if ok {
		b.failures = 0
		b.open = false
		b.probing = false
		return was
	}
	b.failures++
	if b.probing || b.failures >= b.threshold {
		b.open = true
		b.probing = false
		b.until = b.now().Add(b.coolDown)
	}
	return !was && b.open
}

func (b *breaker) state() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case !b.open:
		return BreakerClosed
	case b.now().Before(b.until):
		return BreakerOpen
	default:
		return BreakerHalfOpen
	}
}
