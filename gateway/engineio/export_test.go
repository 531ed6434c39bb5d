package engineio

import "time"

// Test hooks: the black-box tests in package engineio_test use these only
// to wait, without sleeping, until a request has reached a given state.

// PollPending reports whether a long-polling GET is waiting on s.
func PollPending(s *Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.polling
}

// PostPending reports whether a POST body is being read for s.
func PostPending(s *Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.posting
}

// Deflations returns how many payloads s has compressed for WebSockets.
func Deflations(s *Server) int64 { return s.frames.deflate.count.Load() }

// SetUTF8Check turns gws's UTF-8 check of received text messages on or
// off, for benchmarks of its cost. Call it before s serves a request.
func SetUTF8Check(s *Server, on bool) { s.upgrader = s.newUpgrader(on) }

// SetIdleAfter sets how long a WebSocket reader waits for data before it
// parks its connection. Call it before s serves a request.
func SetIdleAfter(s *Server, d time.Duration) { s.idleAfter = d }

// Parked returns how many WebSocket connections of s are parked (no
// reader running), and whether s's poller is open.
func Parked(s *Server) (n int, open bool) { return s.poller.parked() }

// PollerPongs returns how many pongs s's poller read itself, without
// starting a reader.
func PollerPongs(s *Server) int64 { return s.poller.pongs.Load() }

// Writers returns the server's running pool writers and the sessions
// writing on a goroutine of their own (wswrite.go).
func Writers(s *Server) (pool int, slow int64) {
	s.writers.mu.Lock()
	defer s.writers.mu.Unlock()
	return s.writers.running, s.writers.slow.Load()
}
