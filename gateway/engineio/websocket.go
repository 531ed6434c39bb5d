package engineio

import (
	"bufio"
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/lxzan/gws"
	eio "github.com/siogate/siogate/protocol/engineio"
)

// wsSlot is the per-connection storage gws keeps: the session, whether
// the connection is still an upgrade probe, whether it negotiated
// permessage-deflate, and the state of its reader (wsread.go).
type wsSlot struct {
	session *Session
	probing bool
	deflate bool
	// wmu is held by whoever writes on the connection, for a whole batch
	// of frames or one control frame: a batch written in several calls
	// (wswrite.go) is never interleaved with another write.
	wmu sync.Mutex

	srv      *Server
	conn     *gws.Conn
	nc       net.Conn      // the socket, read directly
	br       *bufio.Reader // nil while parked
	head     []byte        // bytes read past the upgrade request by the HTTP server
	deadline time.Time     // the socket's read deadline (zero: none set)
	msg      []byte        // a fragmented message being reassembled
	msgOp    gws.Opcode
	msgZip   bool
	inMsg    bool
	parkNow  bool   // the last packet was a pong: park without waiting
	park     wsPark // the poller's state (wsidle_*.go)
}

func (w *wsSlot) Len() int                           { return 1 }
func (w *wsSlot) Load(string) (any, bool)            { return w.session, w.session != nil }
func (w *wsSlot) Delete(string)                      {}
func (w *wsSlot) Store(string, any)                  {}
func (w *wsSlot) Range(func(key string, v any) bool) {}
func slotOf(c *gws.Conn) *wsSlot                     { return c.Session().(*wsSlot) }

// writeWS writes frames on c, whose writer the caller is.
func (s *Server) writeWS(c *gws.Conn, frames []Frame) error {
	if m := s.meter.m(); m != nil {
		m.Sent(len(frames), frameBytes(frames))
	}
	slot := slotOf(c)
	slot.wmu.Lock()
	defer slot.wmu.Unlock()
	return s.frames.writeFrames(slot.nc, slot.deflate, frames)
}

// upgrade completes a WebSocket handshake, adding the extra header lines
// to the response. permessage-deflate is accepted when enabled and one of
// the client's offers is acceptable; gws then inflates what the client
// sends. gws's own negotiation is given a single canonical offer (or
// none) so that its response is exactly the one this server compresses
// for (see deflate.go).
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, extra []byte) (*gws.Conn, error) {
	offers, had := r.Header[extensionsHeader]
	deflate := s.cfg.WebSocketCompression && acceptDeflate(r.Header)
	if deflate {
		r.Header[extensionsHeader] = []string{deflateResponse}
	} else {
		delete(r.Header, extensionsHeader)
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	var conn *gws.Conn
	if err == nil {
		if len(extra) > 0 {
			nc = &headerConn{Conn: nc, extra: extra}
		}
		// gws's reader is not used (wsread.go): it gets no buffer.
		conn, err = s.upgrader.UpgradeFromConn(nc, nil, r)
	}
	if had {
		r.Header[extensionsHeader] = offers // the session's request stays as sent
	} else {
		delete(r.Header, extensionsHeader)
	}
	if err != nil {
		return nil, err
	}
	slot := slotOf(conn)
	slot.deflate = deflate
	slot.srv, slot.conn, slot.nc = s, conn, rawConn(nc)
	slot.park.fd, slot.park.rc = socketFD(slot.nc)
	if n := brw.Reader.Buffered(); n > 0 {
		// A client that did not wait for the handshake's answer.
		slot.head, _ = brw.Reader.Peek(n)
		slot.head = bytes.Clone(slot.head)
	}
	return conn, nil
}

// socketFD returns c's file descriptor and raw connection, or -1 when it
// has none (the reader of such a connection never parks).
func socketFD(c net.Conn) (int, syscall.RawConn) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, nil
	}
	fd := -1
	if rc.Control(func(f uintptr) { fd = int(f) }) != nil {
		return -1, nil
	}
	return fd, rc
}

// upgradeWebSocket serves a WebSocket upgrading polling session sid.
func (s *Server) upgradeWebSocket(w http.ResponseWriter, r *http.Request, sid string) {
	ss, ok := s.Session(sid)
	if !ok {
		s.refuse(w, r, CodeUnknownSID, sid)
		return
	}
	if s.cfg.DisableUpgrades {
		s.refuse(w, r, CodeBadRequest, "upgrades are disabled")
		return
	}
	ss.mu.Lock()
	refuse := ss.closed || ss.transport != eio.Polling || ss.probe != nil
	ss.mu.Unlock()
	if refuse {
		// A second websocket for a session that already has one (or is
		// getting one): complete the handshake and close it, so the client
		// sees a clean close rather than a failed handshake.
		if conn, err := s.upgrade(w, r, s.upgradeHeaders(r, "")); err == nil {
			closeConn(conn, ReasonTransportError)
		}
		return
	}
	conn, err := s.upgrade(w, r, s.upgradeHeaders(r, ""))
	if err != nil {
		return
	}
	slot := slotOf(conn)
	slot.session, slot.probing = ss, true
	ss.mu.Lock()
	if ss.closed || ss.probe != nil || ss.transport != eio.Polling {
		ss.mu.Unlock()
		closeConn(conn, ReasonTransportError)
		return
	}
	ss.probe = conn
	ss.upTimer = time.AfterFunc(s.cfg.UpgradeTimeout, func() { ss.abortUpgrade(conn) })
	ss.mu.Unlock()
	// The reader gets its own goroutine so that net/http's handler
	// goroutine, its buffers and the request it holds are released.
	slot.startReader()
}

func (s *Server) openWebSocket(w http.ResponseWriter, r *http.Request) {
	id := s.cfg.GenerateID() // before the upgrade: the cookie holds it
	conn, err := s.upgrade(w, r, s.upgradeHeaders(r, id))
	if err != nil {
		return
	}
	ss, err := s.newSession(id, r, eio.WebSocket)
	if err != nil {
		closeConn(conn, ReasonShutdown)
		return
	}
	slotOf(conn).session = ss
	if err := conn.WriteMessage(gws.OpcodeText, s.handshake(ss, s.upgradesFor(eio.WebSocket))); err != nil {
		ss.closeWith(ReasonTransportError, false)
		return
	}
	ss.mu.Lock()
	if ss.closed {
		// Closed (a Shutdown) between the handshake and here, when
		// closeWith had no connection to close yet.
		ss.mu.Unlock()
		closeConn(conn, ReasonShutdown)
		return
	}
	ss.ws = conn
	ss.mu.Unlock()
	ss.startHeartbeat()
	s.cfg.Logger.Debug("engineio: session opened", "sid", ss.id, "transport", eio.WebSocket, "remote", r.RemoteAddr)
	s.handler.OnOpen(ss)
	// The reader gets its own goroutine so that net/http's handler
	// goroutine, its buffers and the request it holds are released.
	slotOf(conn).startReader()
}

// abortUpgrade drops a probe connection that did not complete the upgrade.
func (s *Session) abortUpgrade(conn *gws.Conn) {
	s.mu.Lock()
	if s.probe != conn {
		s.mu.Unlock()
		return
	}
	s.probe = nil
	if s.upgrading {
		s.upgrading = false
		close(s.upDone)
	}
	s.mu.Unlock()
	closeConn(conn, ReasonTransportError)
}

// onProbeMessage runs the upgrade handshake on a probe connection.
func (s *Session) onProbeMessage(conn *gws.Conn, data []byte, binary bool) {
	switch {
	case !binary && bytes.Equal(data, []byte("2probe")):
		s.mu.Lock()
		if s.probe != conn || s.upgrading {
			s.mu.Unlock()
			return
		}
		s.upgrading = true
		s.upDone = make(chan struct{})
		select {
		case s.pollWake <- struct{}{}:
		default:
		}
		s.mu.Unlock()
		if err := conn.WriteMessage(gws.OpcodeText, probeReply); err != nil {
			s.abortUpgrade(conn)
		}
	case !binary && len(data) == 1 && data[0] == eio.Upgrade.Char():
		s.mu.Lock()
		if s.probe != conn || !s.upgrading {
			s.mu.Unlock()
			s.abortUpgrade(conn)
			return
		}
		s.probe = nil
		s.upgrading = false
		s.upTimer.Stop()
		s.transport = eio.WebSocket
		s.ws = conn
		slotOf(conn).probing = false
		close(s.upDone)
		select {
		case s.pollWake <- struct{}{}: // end a pending poll with a noop
		default:
		}
		if len(s.queue) > 0 && !s.flushing {
			s.flushing = true
			s.srv.schedule(s)
		}
		s.mu.Unlock()
		s.srv.cfg.Logger.Debug("engineio: upgraded to websocket", "sid", s.id)
		if m := s.srv.meter.m(); m != nil {
			m.Upgraded(s)
		}
	default:
		s.abortUpgrade(conn)
	}
}

// wsEvents is the gws event handler the upgrader needs. gws's reader is
// not used (wsread.go), so none of its callbacks is called.
type wsEvents struct{ srv *Server }

func (wsEvents) OnOpen(*gws.Conn) {}

func (wsEvents) OnPing(c *gws.Conn, payload []byte) { _ = c.WritePong(payload) }

func (wsEvents) OnPong(*gws.Conn, []byte) {}

// OnMessage is not called: messages are read by wsread.go.
func (wsEvents) OnMessage(_ *gws.Conn, m *gws.Message) { _ = m.Close() }

// OnClose is not called: closes are seen by wsread.go.
func (wsEvents) OnClose(*gws.Conn, error) {}

func isEOF(err error) bool {
	s := err.Error()
	return s == "EOF" || bytes.Contains([]byte(s), []byte("use of closed network connection")) ||
		bytes.Contains([]byte(s), []byte("connection reset"))
}

// gwsLogger routes gws's own error logs to slog.
type gwsLogger struct{ l *slog.Logger }

func (g gwsLogger) Error(v ...any) { g.l.Error("engineio: websocket", "detail", v) }
