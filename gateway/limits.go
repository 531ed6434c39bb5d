package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits bound what one client can make a server hold or do, so that one
// hostile client cannot hurt the others. Zero fields take the defaults,
// chosen so that ordinary applications never meet them; a negative value
// removes a limit. Each refusal is logged (at most one line per limit per
// second, with the count of refusals since the last line).
type Limits struct {
	// NamespacesPerConnection is the most namespaces one connection may
	// be in at once (default 100). A CONNECT past it is refused with
	// CONNECT_ERROR "too many namespaces on this connection".
	NamespacesPerConnection int
	// DynamicNamespaces is the most namespaces created for clients (under
	// a parent namespace, "*" or Config.Namespaces) alive at once (default
	// 10,000). Past it a CONNECT to a new one is refused.
	DynamicNamespaces int
	// RoomsPerSocket is the most rooms a socket may be in, its own
	// included (default 10,000). Join past it fails with ErrTooManyRooms.
	RoomsPerSocket int
	// PendingAcks is the most acknowledgements a socket may owe the
	// server at once (default 10,000). An emit asking for one more fails
	// with ErrTooManyPendingAcks.
	PendingAcks int
	// EventsPerSecond and EventBurst bound the events one socket may send
	// (a token bucket; defaults 5,000 per second, bursts of 10,000). An
	// event past them is dropped and the client gets an "error" event
	// {"message":"rate limit exceeded"} (at most one a second), or, with
	// DisconnectOnEventFlood, the socket is disconnected.
	EventsPerSecond        float64
	EventBurst             int
	DisconnectOnEventFlood bool
	// HandshakesPerSecond and HandshakeBurst bound new connections per
	// remote address (a token bucket per address). Off by default: behind
	// a load balancer every handshake comes from its address. Refused
	// handshakes get HTTP 429.
	HandshakesPerSecond float64
	HandshakeBurst      int
	// Connections is the most connections this node holds (default: no
	// limit but the process's file descriptors). Handshakes past it get
	// HTTP 503, so that a balancer tries another node.
	Connections int
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.NamespacesPerConnection, 100)
	def(&l.DynamicNamespaces, 10_000)
	def(&l.RoomsPerSocket, 10_000)
	def(&l.PendingAcks, 10_000)
	if l.EventsPerSecond == 0 {
		l.EventsPerSecond = 5000
	}
	def(&l.EventBurst, int(2*max(l.EventsPerSecond, 1)))
	if l.HandshakesPerSecond > 0 {
		def(&l.HandshakeBurst, int(2*max(l.HandshakesPerSecond, 1)))
	}
	return l
}

// Errors of the limits.
var (
	// ErrTooManyRooms: Join past Limits.RoomsPerSocket.
	ErrTooManyRooms = errors.New("gateway: too many rooms for one socket (Limits.RoomsPerSocket)")
	// ErrTooManyPendingAcks: an emit with an ack past Limits.PendingAcks.
	ErrTooManyPendingAcks = errors.New("gateway: too many acknowledgements pending on this socket (Limits.PendingAcks)")
)

// bucket is a token bucket; the zero value is full once initialized.
type bucket struct {
	tokens float64
	last   time.Time
}

// take spends one token at now, refilling at rate up to burst.
func (b *bucket) take(now time.Time, rate float64, burst int) bool {
	if b.last.IsZero() {
		b.tokens = float64(burst)
	} else {
		b.tokens = min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// limitHit tells the meter of a refusal by a limit and logs it, one line
// per kind a second at most, with the count of refusals left out.
func (s *Server) limitHit(kind Limit, attrs ...any) {
	if m := s.meterOf(); m != nil {
		m.LimitHit(kind)
	}
	if ok, suppressed := s.limits.Allow(kind, time.Now()); ok {
		s.log.Warn("gateway: refused ("+string(kind)+")", append(attrs, "refused_since_last_line", suppressed)...)
	}
}

// allowEvent spends a token of the socket's event bucket. Only the
// connection's message handler calls it, and the engine never overlaps
// those calls for one session, so the bucket needs no lock.
func (s *Socket) allowEvent() bool {
	lim := &s.ns.srv.cfg.Limits
	if lim.EventsPerSecond < 0 {
		return true
	}
	return s.events.take(time.Now(), lim.EventsPerSecond, lim.EventBurst)
}

// floodEvent handles an event past the rate limit.
func (s *Socket) floodEvent() {
	srv := s.ns.srv
	srv.limitHit(LimitEventsPerSecond, "nsp", s.ns.name, "sid", s.id)
	if srv.cfg.Limits.DisconnectOnEventFlood {
		s.Disconnect(false)
		return
	}
	s.mu.Lock()
	now := time.Now()
	tell := now.Sub(s.floodTold) >= time.Second
	if tell {
		s.floodTold = now
	}
	s.mu.Unlock()
	if tell {
		_ = s.Emit("error", map[string]any{"message": "rate limit exceeded"})
	}
}

// handshakeGate applies the connection limits to a new connection's
// first request. It answers and returns false when the request is
// refused.
type handshakeGate struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

func (s *Server) admitHandshake(w http.ResponseWriter, r *http.Request) bool {
	lim := &s.cfg.Limits
	draining := s.draining.Load()
	if lim.Connections <= 0 && lim.HandshakesPerSecond <= 0 && !draining {
		return true
	}
	if r.URL.Query().Get("sid") != "" {
		return true // not a handshake
	}
	if draining {
		s.limitHit(LimitDraining, "remote", r.RemoteAddr)
		refuse(w, http.StatusServiceUnavailable, "Server draining")
		return false
	}
	if lim.Connections > 0 && s.engine.Count() >= lim.Connections {
		s.limitHit(LimitConnections, "remote", r.RemoteAddr, "limit", lim.Connections)
		refuse(w, http.StatusServiceUnavailable, "Server at its connection limit")
		return false
	}
	if lim.HandshakesPerSecond > 0 {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		g := &s.gate
		now := time.Now()
		g.mu.Lock()
		if g.buckets == nil {
			g.buckets = make(map[string]*bucket)
		}
		if len(g.buckets) > 100_000 {
			// Forget addresses whose bucket has refilled: they are idle.
			for a, b := range g.buckets {
				if now.Sub(b.last).Seconds()*lim.HandshakesPerSecond >= float64(lim.HandshakeBurst) {
					delete(g.buckets, a)
				}
			}
		}
		b := g.buckets[host]
		if b == nil {
			b = &bucket{}
			g.buckets[host] = b
		}
		ok := b.take(now, lim.HandshakesPerSecond, lim.HandshakeBurst)
		g.mu.Unlock()
		if !ok {
			s.limitHit(LimitHandshakesPerSecond, "remote", host)
			refuse(w, http.StatusTooManyRequests, "Too many handshakes from this address")
			return false
		}
	}
	return true
}

// refuse answers an HTTP request with an Engine.IO-style JSON error.
func refuse(w http.ResponseWriter, status int, message string) {
	body, _ := json.Marshal(map[string]any{"code": 3, "message": message})
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, "%s", body)
}
