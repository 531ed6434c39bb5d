package engineio

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Meter hears what a server counts for metrics: refused requests,
// upgrades, and the packets and bytes that cross the transports. Its
// methods are called synchronously where the thing happens, from many
// goroutines at once, and must not block. With no meter added (the
// default) the server skips them at the cost of one atomic load.
type Meter interface {
	// Refused is called for each request answered with an error: cause
	// is one of the Refusal constants, status the HTTP status sent.
	Refused(r *http.Request, cause Refusal, status int)
	// Upgraded is called when a session moves from polling to websocket.
	Upgraded(s *Session)
	// Received is called for each packet read from a client, with the
	// size of its payload.
	Received(bytes int)
	// Sent is called for each batch of packets written to a client (one
	// WebSocket write or one polling response), with their count and
	// payload bytes.
	Sent(packets, bytes int)
}

// Refusal names why a request was refused; the values are fit for a
// metric label and a log line.
type Refusal string

// The causes of refused requests.
const (
	// RefusedCORS: the Origin is not allowed (HTTP 400).
	RefusedCORS Refusal = "cors"
	// RefusedUnknownTransport: missing, unknown or disabled transport.
	RefusedUnknownTransport Refusal = "unknown_transport"
	// RefusedUnknownSID: no open session has the request's sid.
	RefusedUnknownSID Refusal = "unknown_sid"
	// RefusedBadHandshakeMethod: a handshake that is not a GET.
	RefusedBadHandshakeMethod Refusal = "bad_handshake_method"
	// RefusedBadRequest: any other malformed request (websocket transport
	// without an upgrade, a bad method, a request the session's state
	// does not allow, a payload that does not decode).
	RefusedBadRequest Refusal = "bad_request"
	// RefusedForbidden: Config.AllowRequest said no (HTTP 403, or the
	// code its *Error chose).
	RefusedForbidden Refusal = "forbidden"
	// RefusedProtocolVersion: EIO is not 4.
	RefusedProtocolVersion Refusal = "unsupported_protocol_version"
	// RefusedPayloadTooLarge: a polling POST over Config.MaxPayload
	// (HTTP 413).
	RefusedPayloadTooLarge Refusal = "payload_too_large"
)

// refusalOf maps an error code to its cause.
func refusalOf(c ErrorCode) Refusal {
	switch c {
	case CodeUnknownTransport:
		return RefusedUnknownTransport
	case CodeUnknownSID:
		return RefusedUnknownSID
	case CodeBadHandshakeMethod:
		return RefusedBadHandshakeMethod
	case CodeForbidden:
		return RefusedForbidden
	case CodeUnsupportedProtocolVersion:
		return RefusedProtocolVersion
	}
	return RefusedBadRequest
}

// meterBox holds a server's meters: nil when there are none, else one
// Meter (a fan-out when there are several), copied on write.
type meterBox struct {
	mu sync.Mutex // serializes writers
	p  atomic.Pointer[meterRef]
}

type meterRef struct {
	m    Meter         // what the hooks call
	list []*meterEntry // the meters added, each once
}

// meterEntry gives each added meter an identity of its own, so that any
// Meter, comparable or not, can be removed.
type meterEntry struct{ m Meter }

// AddMeter adds m to the server's meters and returns the function that
// removes it.
func (s *Server) AddMeter(m Meter) (remove func()) {
	b := &s.meter
	e := &meterEntry{m}
	b.mu.Lock()
	b.set(append(b.list(), e))
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			list := b.list()
			for i, x := range list {
				if x == e {
					b.set(append(list[:i:i], list[i+1:]...))
					return
				}
			}
		})
	}
}

// list returns a copy of the entries; b.mu is held.
func (b *meterBox) list() []*meterEntry {
	if r := b.p.Load(); r != nil {
		return append([]*meterEntry(nil), r.list...)
	}
	return nil
}

// set installs list; b.mu is held.
func (b *meterBox) set(list []*meterEntry) {
	switch len(list) {
	case 0:
		b.p.Store(nil)
	case 1:
		b.p.Store(&meterRef{m: list[0].m, list: list})
	default:
		ms := make(meters, len(list))
		for i, e := range list {
			ms[i] = e.m
		}
		b.p.Store(&meterRef{m: ms, list: list})
	}
}

// m returns the meter to call, or nil.
func (b *meterBox) m() Meter {
	if r := b.p.Load(); r != nil {
		return r.m
	}
	return nil
}

// meters calls several meters in turn.
type meters []Meter

func (ms meters) Refused(r *http.Request, cause Refusal, status int) {
	for _, m := range ms {
		m.Refused(r, cause, status)
	}
}

func (ms meters) Upgraded(s *Session) {
	for _, m := range ms {
		m.Upgraded(s)
	}
}

func (ms meters) Received(bytes int) {
	for _, m := range ms {
		m.Received(bytes)
	}
}

func (ms meters) Sent(packets, bytes int) {
	for _, m := range ms {
		m.Sent(packets, bytes)
	}
}

// refused logs and counts a refused request; why is the detail logged.
func (s *Server) refused(r *http.Request, cause Refusal, status int, why string) {
	if m := s.meter.m(); m != nil {
		m.Refused(r, cause, status)
	}
	log := s.cfg.Logger
	level := s.cfg.RefusalLogLevel
	if !log.Enabled(context.Background(), level) {
		return
	}
	// At most one line per cause a second, with the count left out.
	ok, suppressed := s.refusals.Allow(cause, time.Now())
	if !ok {
		return
	}
	log.Log(context.Background(), level, "engineio: request refused",
		"cause", string(cause), "status", status, "why", why, "remote", r.RemoteAddr,
		"method", r.Method, "refused_since_last_line", suppressed)
}
