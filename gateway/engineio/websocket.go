package engineio

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/lxzan/gws"
	eio "github.com/siogate/siogate/protocol/engineio"
)

// wsSlot is the per-connection storage gws keeps: just the session,
// whether the connection is still an upgrade probe, and whether it
// negotiated permessage-deflate.
type wsSlot struct {
	session *Session
	probing bool
	deflate bool
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
	return s.frames.writeFrames(rawConn(c.NetConn()), slotOf(c).deflate, frames)
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
	conn, err := s.upgrader.Upgrade(withHeaders(w, extra), r)
	if had {
		r.Header[extensionsHeader] = offers // the session's request stays as sent
	} else {
		delete(r.Header, extensionsHeader)
	}
	if err != nil {
		return nil, err
	}
	slotOf(conn).deflate = deflate
	return conn, nil
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
	// The read loop gets its own goroutine so that net/http's handler
	// goroutine, its buffers and the request it holds are released: an
	// idle connection keeps only gws's reader.
	go conn.ReadLoop()
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
	// The read loop gets its own goroutine so that net/http's handler
	// goroutine, its buffers and the request it holds are released: an
	// idle connection keeps only gws's reader.
	go conn.ReadLoop()
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
			go s.flush()
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

// wsEvents adapts gws callbacks to sessions.
type wsEvents struct{ srv *Server }

func (wsEvents) OnOpen(*gws.Conn) {}

func (wsEvents) OnPing(c *gws.Conn, payload []byte) { _ = c.WritePong(payload) }

func (wsEvents) OnPong(*gws.Conn, []byte) {}

func (wsEvents) OnMessage(c *gws.Conn, m *gws.Message) {
	slot := slotOf(c)
	ss := slot.session
	if ss == nil {
		return
	}
	binary := m.Opcode == gws.OpcodeBinary
	// The packet (its attachments above all) outlives this call, so it gets
	// a buffer of its own, sized exactly; gws's buffer goes back to its
	// pool. Keeping gws's buffer instead would cost more: it is rounded up
	// to a power of two (a 64 KiB attachment holds 128 KiB), and the pool
	// it was taken from is the one gws frames outgoing messages in, which
	// would then allocate a new frame buffer for every large write.
	data := append([]byte(nil), m.Bytes()...)
	_ = m.Close()
	if slot.probing {
		ss.onProbeMessage(c, data, binary)
		return
	}
	p, err := eio.DecodeFrame(data, binary)
	if err == nil {
		err = ss.handle(p)
	}
	if err != nil {
		ss.srv.cfg.Logger.Debug("engineio: closing session on bad packet", "sid", ss.id, "err", err)
		ss.closeWith(ReasonTransportError, false)
	}
}

func (wsEvents) OnClose(c *gws.Conn, err error) {
	slot := slotOf(c)
	ss := slot.session
	if ss == nil {
		return
	}
	if slot.probing {
		ss.abortUpgrade(c)
		return
	}
	reason := ReasonTransportClose
	var ce *gws.CloseError
	if err != nil && !errors.As(err, &ce) && !isEOF(err) {
		reason = ReasonTransportError
	}
	if errors.Is(err, gws.ErrMessageTooLarge) {
		reason = ReasonTransportError
	}
	if errors.Is(err, gws.ErrTextEncoding) {
		reason = ReasonTransportError
		ss.srv.stats.invalidUTF8.Add(1)
		ss.srv.cfg.Logger.Debug("engineio: closing session on a text message that is not UTF-8", "sid", ss.id)
	}
	ss.closeWith(reason, false)
}

func isEOF(err error) bool {
	s := err.Error()
	return s == "EOF" || bytes.Contains([]byte(s), []byte("use of closed network connection")) ||
		bytes.Contains([]byte(s), []byte("connection reset"))
}

// gwsLogger routes gws's own error logs to slog.
type gwsLogger struct{ l *slog.Logger }

func (g gwsLogger) Error(v ...any) { g.l.Error("engineio: websocket", "detail", v) }
