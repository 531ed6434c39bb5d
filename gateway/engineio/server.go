package engineio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"github.com/siogate/siogate/gateway/internal/ratelog"
	eio "github.com/siogate/siogate/protocol/engineio"
)

// Handler receives a server's session events. OnMessage calls for one
// session never overlap and arrive in order; data belongs to the callee.
type Handler interface {
	// OnOpen is called once the handshake has been sent.
	OnOpen(s *Session)
	// OnMessage is called for each message packet.
	OnMessage(s *Session, data []byte, binary bool)
	// OnClose is called once when the session ends.
	OnClose(s *Session, reason Reason)
}

// Reason says why a session ended.
type Reason string

// The reasons a session ends.
const (
	// ReasonServerClose: the application closed the session.
	ReasonServerClose Reason = "server close"
	// ReasonClientClose: the client sent a close packet.
	ReasonClientClose Reason = "client close"
	// ReasonTransportClose: the connection was dropped or the poll aborted.
	ReasonTransportClose Reason = "transport close"
	// ReasonTransportError: a protocol violation, an oversized payload, a
	// write failure or a full outbound queue.
	ReasonTransportError Reason = "transport error"
	// ReasonPingTimeout: no pong within the ping timeout.
	ReasonPingTimeout Reason = "ping timeout"
	// ReasonShutdown: the server is shutting down.
	ReasonShutdown Reason = "server shutting down"
)

// ErrServerClosed is returned by operations on a server after Shutdown.
var ErrServerClosed = errors.New("engineio: server closed")

// Server is an Engine.IO server. It is an http.Handler for the Engine.IO
// path; mount it with http.Handle or wrap it (see gateway.Server).
type Server struct {
	cfg      Config
	handler  Handler
	upgrader *gws.Upgrader

	mu        sync.RWMutex
	sessions  map[string]*Session
	lingering map[string]*Session // closed, awaiting their last poll
	closed    bool
	wg        sync.WaitGroup // sessions alive
	frames    frameWriters   // scratch space of WebSocket writes
	writers   writerPool     // WebSocket sessions waiting for a writer (wswrite.go)
	stats     serverStats
	meter     meterBox
	poller    wsPoller                 // parked WebSocket connections (wsread.go)
	checkUTF8 bool                     // text messages must be UTF-8
	idleAfter time.Duration            // a WebSocket reader parks after this long without data
	refusals  ratelog.Limiter[Refusal] // refused requests logged
}

// Stats counts the sessions and requests a server cut for misbehaving,
// since it started.
type Stats struct {
	// SlowClients counts sessions closed because their outbound data
	// exceeded Config.QueueLimit or Config.QueueBytes.
	SlowClients int64
	// InvalidUTF8 counts sessions closed for text that is not UTF-8: a
	// WebSocket text message (closed with status 1007) or a polling
	// payload (answered with HTTP 400).
	InvalidUTF8 int64
	// BodyTimeouts counts polling POSTs cut because their body was not
	// received within Config.PingTimeout.
	BodyTimeouts int64
}

type serverStats struct {
	slowClients, invalidUTF8, bodyTimeouts atomic.Int64
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		SlowClients:  s.stats.slowClients.Load(),
		InvalidUTF8:  s.stats.invalidUTF8.Load(),
		BodyTimeouts: s.stats.bodyTimeouts.Load(),
	}
}

// wsReadBuffer is the size of each WebSocket connection's read buffer, held
// for the life of the connection. Socket.IO packets are mostly small; a
// frame longer than the buffer is read straight into its own buffer, so a
// small one costs memory per idle connection, not speed.
const wsReadBuffer = 512

// NewServer returns a server that reports session events to h.
func NewServer(cfg Config, h Handler) *Server {
	s := &Server{cfg: cfg.withDefaults(), handler: h, sessions: make(map[string]*Session), lingering: make(map[string]*Session)}
	s.frames.deflate.threshold = s.cfg.CompressionThreshold
	s.upgrader = s.newUpgrader(true)
	s.idleAfter = wsIdleAfter
	s.writers.max = runtime.GOMAXPROCS(0)
	return s
}

// newUpgrader returns the WebSocket upgrader. With checkUTF8, every text
// message received (after reassembly and inflation) must be UTF-8, or gws
// closes the connection with status 1007 (RFC 6455 section 8.1); it also
// checks the few messages written through gws (handshakes, probe answers).
// Turning it off is for benchmarks that measure its cost.
func (s *Server) newUpgrader(checkUTF8 bool) *gws.Upgrader {
	s.checkUTF8 = checkUTF8
	return gws.NewUpgrader(wsEvents{s}, &gws.ServerOption{
		ReadMaxPayloadSize: s.cfg.MaxPayload,
		ReadBufferSize:     wsReadBuffer,
		CheckUtf8Enabled:   checkUTF8,
		HandshakeTimeout:   10 * time.Second,
		NewSession:         func() gws.SessionStorage { return &wsSlot{} },
		Recovery:           gws.Recovery,
		Logger:             gwsLogger{s.cfg.Logger},
		// gws inflates what clients send and writes the handshake and
		// probe answers; the negotiation is this server's (Server.upgrade).
		// Its inflaters are shared by all connections, a few per CPU.
		PermessageDeflate: gws.PermessageDeflate{
			Enabled:             s.cfg.WebSocketCompression,
			Level:               deflateLevel,
			Threshold:           s.cfg.CompressionThreshold,
			PoolSize:            runtime.GOMAXPROCS(0),
			ServerMaxWindowBits: 15,
			ClientMaxWindowBits: 15,
		},
	})
}

// Config returns the server's configuration with defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Session returns the open session with id sid.
func (s *Server) Session(sid string) (*Session, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ss, ok := s.sessions[sid]
	return ss, ok
}

// Sessions returns the open sessions.
func (s *Server) Sessions() []*Session {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		out = append(out, ss)
	}
	return out
}

// Count returns the number of open sessions.
func (s *Server) Count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.sessions)
}

// Shutdown closes every session with ReasonShutdown and refuses new ones.
// It waits for the sessions' close callbacks, or until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	all := make([]*Session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.closeWith(ReasonShutdown, true)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ServeHTTP serves the Engine.IO protocol: handshakes, polling GET/POST,
// WebSocket connections and CORS preflight. Refused requests are answered
// as engine.io answers them: HTTP 400 (403 for CodeForbidden) with
// {"code":N,"message":"..."}, the checks in engine.io's order.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.cors(w, r) {
		s.refused(r, RefusedCORS, http.StatusBadRequest, "origin "+strconv.Quote(r.Header.Get("Origin")))
		http.Error(w, "Not an accepted origin.", http.StatusBadRequest)
		return
	}
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusOK)
		return
	}
	query := r.URL.Query()
	transport, sid := query.Get("transport"), query.Get("sid")
	if (transport != eio.Polling && transport != eio.WebSocket) || !s.cfg.allows(transport) {
		s.refuse(w, r, CodeUnknownTransport, "transport "+strconv.Quote(transport))
		return
	}
	if transport == eio.WebSocket && !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		s.refuse(w, r, CodeBadRequest, "websocket transport without an upgrade")
		return
	}
	if v, err := strconv.Atoi(query.Get("EIO")); err != nil || v != eio.Protocol {
		if sid == "" && r.Method != http.MethodGet {
			s.refuse(w, r, CodeBadHandshakeMethod, r.Method)
			return
		}
		s.refuse(w, r, CodeUnsupportedProtocolVersion, "EIO="+query.Get("EIO"))
		return
	}
	if sid == "" {
		if r.Method != http.MethodGet {
			s.refuse(w, r, CodeBadHandshakeMethod, r.Method)
			return
		}
		if e := s.allow(r); e != nil {
			s.refuseWith(w, r, e, RefusedForbidden, "AllowRequest: "+e.Error())
			return
		}
		if transport == eio.WebSocket {
			s.openWebSocket(w, r)
		} else {
			s.handshakePolling(w, r)
		}
		return
	}
	if transport == eio.WebSocket {
		s.upgradeWebSocket(w, r, sid)
		return
	}
	ss, ok := s.Session(sid)
	if !ok && r.Method == http.MethodGet {
		ss, ok = s.pollTarget(sid)
	}
	if !ok {
		s.refuse(w, r, CodeUnknownSID, sid)
		return
	}
	s.addHeaders(w.Header(), r, false)
	switch r.Method {
	case http.MethodGet:
		ss.servePoll(w, r)
	case http.MethodPost:
		ss.servePost(w, r)
	default:
		s.refuse(w, r, CodeBadRequest, "method "+r.Method)
	}
}

// newSession registers session id; it fails after Shutdown.
func (s *Server) newSession(id string, r *http.Request, transport string) (*Session, error) {
	ss := &Session{
		id:        id,
		srv:       s,
		req:       snapshotRequest(r),
		transport: transport,
	}
	if transport == eio.Polling {
		// Only a session that starts on polling is ever polled; elsewhere
		// the channel stays nil and the non-blocking wake-ups skip it.
		ss.pollWake = make(chan struct{}, 1)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrServerClosed
	}
	s.sessions[ss.id] = ss
	s.wg.Add(1)
	s.mu.Unlock()
	return ss, nil
}

// lingerTime is how long a closed polling session stays reachable for the
// poll that collects its last packet.
const lingerTime = 5 * time.Second

// removeSession forgets a closed session. With linger, its last poll may
// still find it for a moment (it no longer counts as open).
func (s *Server) removeSession(ss *Session, linger bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[ss.id] == ss {
		delete(s.sessions, ss.id)
	}
	if linger {
		s.lingering[ss.id] = ss
		time.AfterFunc(min(lingerTime, s.cfg.PingTimeout), func() { s.forget(ss) })
	}
}

// forget drops a lingering session.
func (s *Server) forget(ss *Session) {
	s.mu.Lock()
	if s.lingering[ss.id] == ss {
		delete(s.lingering, ss.id)
	}
	s.mu.Unlock()
}

// pollTarget finds the session a GET is for, lingering ones included.
func (s *Server) pollTarget(sid string) (*Session, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if ss, ok := s.sessions[sid]; ok {
		return ss, true
	}
	ss, ok := s.lingering[sid]
	return ss, ok
}

func (s *Server) handshake(ss *Session, upgrades []string) []byte {
	return eio.AppendOpen(nil, eio.Handshake{
		SID:          ss.id,
		Upgrades:     upgrades,
		PingInterval: s.cfg.PingInterval.Milliseconds(),
		PingTimeout:  s.cfg.PingTimeout.Milliseconds(),
		MaxPayload:   int64(s.cfg.MaxPayload),
	})
}

func (s *Server) upgradesFor(transport string) []string {
	if transport == eio.Polling && !s.cfg.DisableUpgrades && s.cfg.allows(eio.WebSocket) {
		return []string{eio.WebSocket}
	}
	return []string{}
}

// cors applies the CORS policy. It reports false when the origin is refused.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.DisableCORS {
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	allowed, wildcard := s.originAllowed(origin, r)
	if !allowed {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	if !s.cfg.DisableCORSCredentials && (!wildcard || s.cfg.CORSCredentialsWithAnyOrigin) {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "OPTIONS, GET, POST")
		if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
			h.Set("Access-Control-Allow-Headers", rh)
		}
	}
	return true
}

// originAllowed reports whether origin may connect, and whether only a
// "*" of CORSAllowedOrigins allows it.
func (s *Server) originAllowed(origin string, r *http.Request) (allowed, wildcard bool) {
	if s.cfg.CORSAllowOrigin != nil {
		return s.cfg.CORSAllowOrigin(r, origin), false
	}
	if s.cfg.CORSAllowedOrigins == nil {
		return s.sameOrigin(origin, r), false
	}
	for _, o := range s.cfg.CORSAllowedOrigins {
		if o == "*" {
			wildcard = true
		} else if strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true, false
		}
	}
	return wildcard, wildcard
}

// sameOrigin reports whether origin is the request's own: its scheme and
// host, as a trusted proxy forwarded them when one did.
func (s *Server) sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if s.fromTrustedProxy(r) {
		if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
			scheme = strings.TrimSpace(strings.Split(p, ",")[0])
		}
		if h := r.Header.Get("X-Forwarded-Host"); h != "" {
			host = strings.TrimSpace(strings.Split(h, ",")[0])
		}
	}
	return strings.EqualFold(u.Scheme, scheme) && strings.EqualFold(u.Host, host)
}

// fromTrustedProxy reports whether the request's peer is one of
// Config.TrustedProxies.
func (s *Server) fromTrustedProxy(r *http.Request) bool {
	if len(s.cfg.TrustedProxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
