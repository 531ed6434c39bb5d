package gateway

import "time"

// Meter hears what the server counts for metrics beyond what an Observer
// hears: limits hit, broadcast fan-out, handler latency and recovery
// attempts. Its methods are called synchronously, from many goroutines at
// once, and must not block. With no meter set (the default) the server
// skips them at the cost of one atomic load. The engine's own counts
// (refused requests, packets, bytes) go to an engineio.Meter, added with
// Engine().AddMeter.
type Meter interface {
	// LimitHit is called for every refusal of a Limits limit and for
	// every handshake refused while draining; kind is one of the Limit
	// constants.
	LimitHit(kind Limit)
	// Broadcast is called for each broadcast delivered to this node's
	// sockets of namespace nsp, with the number of sockets it was queued
	// for.
	Broadcast(nsp string, recipients int)
	// HandlerDone is called when the handler of an event from socket s
	// returns, with the time it ran. Events with no handler, or rejected
	// by a middleware, are not reported.
	HandlerDone(s *Socket, event string, d time.Duration)
	// Recovery is called for each connection that presents a recovery
	// session: cause is RecoveryHit when the session was restored, else
	// why it was not.
	Recovery(nsp string, cause RecoveryCause)
}

// Limit names a limit of Limits (or the drain) in Meter.LimitHit and in
// the log line of a refusal.
type Limit string

// The limits reported to Meter.LimitHit.
const (
	// LimitEventsPerSecond: Limits.EventsPerSecond and EventBurst.
	LimitEventsPerSecond Limit = "events per second"
	// LimitRoomsPerSocket: Limits.RoomsPerSocket.
	LimitRoomsPerSocket Limit = "rooms per socket"
	// LimitPendingAcks: Limits.PendingAcks.
	LimitPendingAcks Limit = "pending acks per socket"
	// LimitNamespacesPerConnection: Limits.NamespacesPerConnection.
	LimitNamespacesPerConnection Limit = "namespaces per connection"
	// LimitDynamicNamespaces: Limits.DynamicNamespaces.
	LimitDynamicNamespaces Limit = "dynamic namespaces"
	// LimitConnections: Limits.Connections (HTTP 503).
	LimitConnections Limit = "connections per node"
	// LimitHandshakesPerSecond: Limits.HandshakesPerSecond and
	// HandshakeBurst (HTTP 429).
	LimitHandshakesPerSecond Limit = "handshakes per second per address"
	// LimitDraining: a handshake while the node drains (HTTP 503).
	LimitDraining Limit = "handshake refused while draining"
)

// RecoveryCause is the outcome of a connection state recovery attempt.
type RecoveryCause string

// The outcomes of a recovery attempt.
const (
	// RecoveryHit: the session was restored.
	RecoveryHit RecoveryCause = "hit"
	// RecoveryUnknownSession: the store does not have it (unknown,
	// expired, already taken) or could not be read.
	RecoveryUnknownSession RecoveryCause = "unknown_session"
	// RecoveryOtherNamespace: the session belongs to another namespace.
	RecoveryOtherNamespace RecoveryCause = "other_namespace"
	// RecoveryStillConnected: the session's socket is still connected.
	RecoveryStillConnected RecoveryCause = "still_connected"
	// RecoveryReplayFailed: the missed events could not be read (too
	// many, or the store failed).
	RecoveryReplayFailed RecoveryCause = "replay_failed"
)

type meterRef struct {
	m     Meter
	epoch time.Time // when it was set: see since
}

// since returns the time since the meter was set, read from the
// monotonic clock alone (time.Now reads the wall clock too): the handler
// latency costs two such reads per event.
func (r *meterRef) since() time.Duration { return time.Since(r.epoch) }

// SetMeter sets the server's meter, replacing the one set before; nil
// removes it. (The engine takes several: Engine().AddMeter.)
func (s *Server) SetMeter(m Meter) {
	if m == nil {
		s.meter.Store(nil)
		return
	}
	s.meter.Store(&meterRef{m: m, epoch: time.Now()})
}

// meterOf returns the server's meter, or nil.
func (s *Server) meterOf() Meter {
	if r := s.meter.Load(); r != nil {
		return r.m
	}
	return nil
}

// recoveryOutcome tells the meter how a recovery attempt ended.
func (ns *Namespace) recoveryOutcome(cause RecoveryCause) {
	if m := ns.srv.meterOf(); m != nil {
		m.Recovery(ns.name, cause)
	}
}
