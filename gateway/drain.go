package gateway

import (
	"context"
	"time"
)

// Drain takes the node out of service gracefully, for a rolling deploy:
// from the call on, Draining reports true (a readiness probe should fail)
// and new connections are refused with HTTP 503 so that the balancer
// sends them elsewhere; the connections the node holds are closed one by
// one, spread evenly over window, as a dropped transport, so that
// socket.io-client reconnects by itself (to another node) and, with
// connection state recovery on a shared store, gets its session back.
// Drain returns when the node holds no connection, or with ctx's error
// when ctx ends first. Shutdown is still needed afterwards.
func (s *Server) Drain(ctx context.Context, window time.Duration) error {
	s.draining.Store(true)
	s.log.Info("gateway: draining", "connections", s.engine.Count(), "window", window)
	sessions := s.engine.Sessions()
	// The i-th connection is closed at start + i×step. The schedule is
	// kept by the clock, not by counting ticks: on a busy machine a late
	// wake-up closes the connections that are due at once, so the drain
	// still ends with the window (a ticker would drop the late ticks and
	// stretch the drain past it, and a deployment's grace period).
	if len(sessions) > 0 {
		step := window / time.Duration(len(sessions))
		start := time.Now()
		timer := time.NewTimer(0)
		defer timer.Stop()
		for i, ss := range sessions {
			if wait := time.Until(start.Add(time.Duration(i) * step)); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			ss.Close() // "forced close": recoverable, and the client reconnects
		}
	}
	for s.engine.Count() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	s.log.Info("gateway: drained")
	return nil
}

// Draining reports whether Drain was called.
func (s *Server) Draining() bool { return s.draining.Load() }
