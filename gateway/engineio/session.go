package engineio

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/lxzan/gws"
	eio "github.com/siogate/siogate/protocol/engineio"
)

// Frame is one Engine.IO packet ready for the wire. For a text packet Data
// is its full text encoding, type digit first; for a binary message it is
// the raw bytes. Frames are never modified once queued, so one Frame may be
// queued on many sessions (a broadcast encodes once; see Shared).
//
// The zero value of NoCompress lets a frame be compressed, as Node sends
// every packet unless told compress(false): on a WebSocket that
// negotiated permessage-deflate when its payload reaches
// Config.CompressionThreshold, and in a polling response (see
// Config.DisableCompression) unless every frame of that response is
// marked NoCompress.
type Frame struct {
	Data   []byte
	Binary bool
	// NoCompress sends the frame uncompressed (Socket.IO's compress(false)).
	NoCompress bool

	z *deflated // the compressed payload shared by every session, see Shared
}

// MessageFrame returns the text frame of a message packet carrying data.
func MessageFrame(data []byte) Frame {
	return Frame{Data: eio.AppendText(make([]byte, 0, len(data)+1), eio.Message, data)}
}

// Errors returned by Session.Send.
var (
	// ErrSessionClosed: the session has ended; nothing was queued.
	ErrSessionClosed = errors.New("engineio: session closed")
	// ErrQueueFull: the client reads too slowly; the session was closed.
	ErrQueueFull = errors.New("engineio: outbound queue full, slow client disconnected")
)

var (
	pingFrame  = Frame{Data: []byte{eio.Ping.Char()}}
	pongFrame  = Frame{Data: []byte{eio.Pong.Char()}}
	closeFrame = Frame{Data: []byte{eio.Close.Char()}}
	noopFrame  = Frame{Data: []byte{eio.Noop.Char()}}
	probeReply = []byte("3probe")
)

// Session is one Engine.IO connection, whichever transport carries it.
// Its methods are safe for concurrent use.
type Session struct {
	id  string
	srv *Server
	req requestSnapshot

	mu        sync.Mutex
	transport string
	closed    bool
	queue     []Frame
	spare     []Frame   // recycled queue backing array
	queued    int       // payload bytes in queue
	inflight  int       // payload bytes of the batch a writer is writing
	slow      bool      // over a queue limit: being closed
	flushing  bool      // a writer has the session: queued for one, or writing
	next      *Session  // the next session queued for a writer (writerPool)
	ws        *gws.Conn // the WebSocket carrying the session, once it does
	probe     *gws.Conn // a WebSocket being upgraded to
	upgrading bool      // probe answered, upgrade packet awaited
	upDone    chan struct{}
	upTimer   *time.Timer
	polling   bool                     // a GET is pending
	posting   bool                     // a POST is being read
	postRC    *http.ResponseController // that POST's, while its body is read
	pollWake  chan struct{}
	timer     *time.Timer
	awaitPong bool
	value     any
}

// ID returns the session id.
func (s *Session) ID() string { return s.id }

// Request returns a copy of the handshake request (no body; a background
// context). Each call builds a new one: changes to it are not kept.
func (s *Session) Request() *http.Request { return s.req.request() }

// Transport returns the current transport name, "polling" or "websocket".
func (s *Session) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transport
}

// SetValue attaches an application value to the session.
func (s *Session) SetValue(v any) {
	s.mu.Lock()
	s.value = v
	s.mu.Unlock()
}

// Value returns the value attached with SetValue.
func (s *Session) Value() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.value
}

// Send queues frames to be written in order, contiguously. It fails with
// ErrSessionClosed after the session ends, and with ErrQueueFull (closing
// the session) when the client cannot keep up.
func (s *Session) Send(frames ...Frame) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrSessionClosed
	}
	if s.slow {
		s.mu.Unlock()
		return ErrQueueFull
	}
	n := frameBytes(frames)
	waiting := s.queued + s.inflight
	if len(s.queue)+len(frames) > s.srv.cfg.QueueLimit || waiting > 0 && waiting+n > s.srv.cfg.QueueBytes {
		s.slow = true
		packets := len(s.queue)
		s.mu.Unlock()
		s.srv.stats.slowClients.Add(1)
		s.srv.cfg.Logger.Warn("engineio: outbound queue full, closing slow session", "sid", s.id,
			"packets", packets, "bytes", waiting, "adding", n,
			"queueLimit", s.srv.cfg.QueueLimit, "queueBytes", s.srv.cfg.QueueBytes)
		// Closed from another goroutine: the caller may hold locks that
		// the close callbacks need.
		go s.closeWith(ReasonTransportError, false)
		return ErrQueueFull
	}
	s.queue = append(s.queue, frames...)
	s.queued += n
	s.kickLocked()
	s.mu.Unlock()
	return nil
}

// frameBytes is the payload size of frames, what the byte budget counts.
func frameBytes(frames []Frame) int {
	n := 0
	for i := range frames {
		n += len(frames[i].Data)
	}
	return n
}

// QueuedBytes returns the payload bytes of s waiting to be written: those
// queued and, on a WebSocket, the batch its writer is writing. Config.QueueBytes
// bounds it.
func (s *Session) QueuedBytes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queued + s.inflight
}

// Drained waits, at most d, until every queued frame has been handed to
// the connection (websocket) or collected by a poll.
func (s *Session) Drained(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		idle := len(s.queue) == 0 && !s.flushing
		s.mu.Unlock()
		if idle {
			return
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// SendInline writes frames on the caller's goroutine when the session is
// on a websocket with nothing queued and no writer running; otherwise it
// queues them like Send. It is meant for the goroutine reading this
// session (an answer to what was just read): writing there is the natural
// backpressure and saves handing one frame to a new writer goroutine.
func (s *Session) SendInline(frames ...Frame) error {
	s.mu.Lock()
	ws := s.ws
	if s.closed || ws == nil || s.flushing || len(s.queue) > 0 {
		s.mu.Unlock()
		return s.Send(frames...)
	}
	s.flushing = true // this goroutine is the writer for now
	s.mu.Unlock()
	err := s.srv.writeWS(ws, frames)
	s.mu.Lock()
	if err == nil && len(s.queue) > 0 && s.ws != nil {
		s.srv.schedule(s) // others queued meanwhile: hand over, still flushing
	} else {
		s.flushing = false
	}
	s.mu.Unlock()
	if err != nil {
		s.closeWith(ReasonTransportError, false)
	}
	return err
}

// ErrDropped is returned by SendVolatile when frames were dropped.
var ErrDropped = errors.New("engineio: volatile packet dropped, session not ready")

// SendVolatile queues frames only when nothing else is waiting to be
// written; otherwise it drops them and returns ErrDropped.
func (s *Session) SendVolatile(frames ...Frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrSessionClosed
	}
	if len(s.queue) > 0 || s.upgrading {
		return ErrDropped
	}
	s.queue = append(s.queue, frames...)
	s.queued += frameBytes(frames)
	s.kickLocked()
	return nil
}

// kickLocked makes the transport drain the queue. On a WebSocket the
// session is queued for the server's writers (wswrite.go) unless a writer
// has it already. Writing right here instead (a non-blocking writev from
// the sender's goroutine) was tried and measured: a broadcast to 500
// sockets with 4 in flight then cost 4490 us of server CPU instead of
// 1547, because the hand-off to a writer lets the next broadcasts join the
// same batch, one writev for several frames.
func (s *Session) kickLocked() {
	if s.ws != nil {
		if !s.flushing {
			s.flushing = true
			s.srv.schedule(s)
		}
		return
	}
	select {
	case s.pollWake <- struct{}{}:
	default:
	}
}

// flush writes queued frames to the WebSocket, waiting for the socket as
// long as each write takes, until the queue is empty. It runs on a
// goroutine of the session's own, only while the session is slow (its
// socket's buffer filled up, see writeSlow) or its connection allows no
// non-blocking write; other sessions are written by the writer pool.
func (s *Session) flush() {
	for {
		s.mu.Lock()
		ws := s.ws
		if len(s.queue) == 0 || ws == nil {
			s.flushing = false
			s.mu.Unlock()
			return
		}
		batch := s.queue
		s.queue = s.spare[:0]
		s.inflight, s.queued = s.queued, 0
		s.mu.Unlock()
		err := s.srv.writeWS(ws, batch)
		clear(batch)
		if err != nil {
			s.mu.Lock()
			s.flushing = false
			s.inflight = 0
			s.mu.Unlock()
			s.closeWith(ReasonTransportError, false)
			return
		}
		s.mu.Lock()
		s.spare = batch[:0]
		s.inflight = 0
		s.mu.Unlock()
	}
}

// Close ends the session from the server side (ReasonServerClose), telling
// the client with a close packet.
func (s *Session) Close() { s.closeWith(ReasonServerClose, true) }

// closeWith ends the session once. notify sends a close packet to a pending
// poll (WebSocket clients see the connection close).
func (s *Session) closeWith(reason Reason, notify bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.postRC != nil {
		// A POST body being read stops at once. Set under s.mu: the POST
		// handler clears postRC under it before it returns, so the
		// deadline never lands on the connection's next request.
		_ = s.postRC.SetReadDeadline(time.Now())
		s.postRC = nil
	}
	if s.upTimer != nil {
		s.upTimer.Stop()
	}
	ws, probe := s.ws, s.probe
	s.ws, s.probe = nil, nil
	// A polling session closed by the server, or by the client's close
	// packet, with no GET pending stays reachable for a moment so that the
	// client's next poll still collects the close (or noop) packet rather
	// than an error: a client may send its close and its last poll at once.
	linger := ws == nil && !s.polling && s.transport == eio.Polling &&
		(reason == ReasonServerClose || reason == ReasonClientClose)
	if ws == nil {
		switch {
		case reason == ReasonClientClose && (s.polling || linger):
			s.queue, s.queued = append(s.queue[:0], noopFrame), len(noopFrame.Data)
		case notify && s.polling || linger:
			s.queue, s.queued = append(s.queue[:0], closeFrame), len(closeFrame.Data)
		}
		select {
		case s.pollWake <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()

	s.srv.removeSession(s, linger)
	if ws != nil {
		closeConn(ws, reason)
	}
	if probe != nil {
		closeConn(probe, reason)
	}
	s.srv.cfg.Logger.Debug("engineio: session closed", "sid", s.id, "reason", string(reason))
	s.srv.handler.OnClose(s, reason)
	s.srv.wg.Done()
}

func closeConn(c *gws.Conn, reason Reason) {
	slot := slotOf(c)
	if slot.srv != nil {
		slot.srv.unpark(slot) // before the descriptor can be reused
	}
	code := uint16(1000)
	if reason == ReasonTransportError {
		code = 1002
	}
	// The deadline also ends, within a second, a write that is waiting
	// for a client that stopped reading, and so frees slot.wmu.
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	slot.wmu.Lock()
	_ = c.WriteClose(code, nil)
	slot.wmu.Unlock()
	_ = c.NetConn().Close()
}

// startHeartbeat arms the session's single heartbeat timer.
func (s *Session) startHeartbeat() {
	s.mu.Lock()
	if !s.closed {
		s.timer = time.AfterFunc(s.srv.cfg.PingInterval, s.onTimer)
	}
	s.mu.Unlock()
}

func (s *Session) onTimer() {
	cfg := &s.srv.cfg
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.awaitPong && !cfg.DisableMonitorClients {
		s.mu.Unlock()
		s.closeWith(ReasonPingTimeout, false)
		return
	}
	s.awaitPong = true
	s.timer.Reset(cfg.PingTimeout + cfg.PingGrace)
	if cfg.DisableMonitorClients {
		s.timer.Reset(cfg.PingInterval)
	}
	s.mu.Unlock()
	// Written from this timer goroutine when no writer runs: an idle
	// connection's ping then costs no second goroutine.
	_ = s.SendInline(pingFrame)
}

func (s *Session) onPong() {
	s.mu.Lock()
	if s.awaitPong && !s.closed {
		s.awaitPong = false
		s.timer.Reset(s.srv.cfg.PingInterval)
	}
	s.mu.Unlock()
}

// handle processes one packet from the client. A returned error means a
// protocol violation: the caller closes the session.
func (s *Session) handle(p eio.Packet) error {
	if m := s.srv.meter.m(); m != nil {
		m.Received(len(p.Data))
	}
	switch p.Type {
	case eio.Message:
		s.srv.handler.OnMessage(s, p.Data, p.Binary)
	case eio.Pong:
		s.onPong()
	case eio.Ping:
		return s.Send(pongFrame)
	case eio.Close:
		s.closeWith(ReasonClientClose, false)
	case eio.Noop:
	default:
		return eio.ErrInvalidPacket
	}
	return nil
}
