// Package ratelog bounds log lines: at most one line per key a period,
// each telling how many were left out since the previous one.
package ratelog

import (
	"sync"
	"time"
)

// Limiter lets one line per key through each Period. The zero value is
// ready, with a period of one second.
type Limiter[K comparable] struct {
	// Period is the least time between two lines of one key (default 1s).
	Period time.Duration

	mu   sync.Mutex
	keys map[K]*state
}

type state struct {
	last       time.Time
	suppressed int
}

// Allow reports whether a line of key may be logged at now and, when it
// may, how many lines of key were refused since the previous one.
func (l *Limiter[K]) Allow(key K, now time.Time) (ok bool, suppressed int) {
	period := l.Period
	if period <= 0 {
		period = time.Second
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil {
		l.keys = make(map[K]*state)
	}
	s := l.keys[key]
	if s == nil {
		s = &state{}
		l.keys[key] = s
	}
	if !s.last.IsZero() && now.Sub(s.last) < period {
		s.suppressed++
		return false, 0
	}
	suppressed = s.suppressed
	s.last, s.suppressed = now, 0
	return true, suppressed
}
