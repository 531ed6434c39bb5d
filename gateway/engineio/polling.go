package engineio

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	eio "github.com/siogate/siogate/protocol/engineio"
)

// upgradeSettle is how long a poll arriving mid-upgrade waits for the
// upgrade packet before it is answered with a noop.
const upgradeSettle = 100 * time.Millisecond

func (s *Server) handshakePolling(w http.ResponseWriter, r *http.Request) {
	ss, err := s.newSession(s.cfg.GenerateID(), r, eio.Polling)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	if ck := s.sessionCookie(r, ss.id); ck != nil {
		http.SetCookie(w, ck)
	}
	s.addHeaders(w.Header(), r, true)
	// OnOpen runs before the client can see the sid, so that its first
	// POST always finds the session ready.
	s.cfg.Logger.Debug("engineio: session opened", "sid", ss.id, "transport", eio.Polling, "remote", r.RemoteAddr)
	s.handler.OnOpen(ss)
	ss.startHeartbeat()
	s.writePayload(w, r, s.handshake(ss, s.upgradesFor(eio.Polling)), true)
}

// servePoll answers a long-polling GET with the queued packets, waiting for
// some if there are none.
func (s *Session) servePoll(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed && len(s.queue) > 0 && !s.polling {
		defer s.srv.forget(s) // the last packet a close left for this poll
	} else if s.closed || s.transport != eio.Polling {
		s.mu.Unlock()
		s.srv.refuse(w, r, CodeBadRequest, "session is not polling")
		return
	}
	if s.polling {
		s.mu.Unlock()
		s.srv.refuse(w, r, CodeBadRequest, "overlapping GET requests")
		s.closeWith(ReasonTransportError, true)
		return
	}
	s.polling = true
	for len(s.queue) == 0 && !s.closed {
		if s.upgrading {
			done := s.upDone
			s.mu.Unlock()
			t := time.NewTimer(upgradeSettle)
			select {
			case <-done:
			case <-t.C:
			case <-r.Context().Done():
			}
			t.Stop()
			s.mu.Lock()
			if s.transport != eio.Polling {
				s.polling = false
				s.mu.Unlock()
				s.srv.refuse(w, r, CodeBadRequest, "session was upgraded")
				return
			}
			s.queue = append(s.queue, noopFrame)
			s.queued += len(noopFrame.Data)
			break
		}
		s.mu.Unlock()
		select {
		case <-s.pollWake:
		case <-r.Context().Done():
			s.mu.Lock()
			s.polling = false
			s.mu.Unlock()
			s.closeWith(ReasonTransportClose, false)
			return
		}
		s.mu.Lock()
		if s.transport != eio.Polling {
			// The upgrade completed without this poll being released by the
			// probe: a client that follows the upgrade steps never leaves a
			// poll pending past the upgrade packet, so this GET is a stray
			// one. It is refused; queued packets stay for the websocket.
			s.polling = false
			s.mu.Unlock()
			s.srv.refuse(w, r, CodeBadRequest, "session was upgraded")
			return
		}
	}
	batch := s.queue
	s.queue, s.queued = nil, 0
	s.polling = false
	closed := s.closed
	s.mu.Unlock()
	if len(batch) == 0 && closed {
		s.srv.refuse(w, r, CodeBadRequest, "session closed")
		return
	}
	size, compress := 0, false
	for _, f := range batch {
		size += len(f.Data) + 1
		compress = compress || !f.NoCompress
	}
	if m := s.srv.meter.m(); m != nil {
		m.Sent(len(batch), size-len(batch))
	}
	body := make([]byte, 0, size+size/3)
	for i, f := range batch {
		if i > 0 {
			body = append(body, eio.RecordSeparator)
		}
		if f.Binary {
			body = eio.AppendRecord(body, eio.Packet{Type: eio.Message, Data: f.Data, Binary: true})
		} else {
			body = append(body, f.Data...)
		}
	}
	s.srv.writePayload(w, r, body, compress)
}

// servePost reads a long-polling POST and dispatches its packets.
func (s *Session) servePost(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed || s.transport != eio.Polling {
		s.mu.Unlock()
		s.srv.refuse(w, r, CodeBadRequest, "session is not polling")
		return
	}
	if s.posting {
		s.mu.Unlock()
		s.srv.refuse(w, r, CodeBadRequest, "overlapping POST requests")
		s.closeWith(ReasonTransportError, true)
		return
	}
	// The body must arrive within the ping timeout: a client that sends
	// its body slowly or never ends a chunked one is cut rather than
	// holding the request, and the session, forever. While it is read,
	// closing the session cuts it at once (closeWith).
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(s.srv.cfg.PingTimeout)) == nil
	if deadline {
		s.postRC = rc
	}
	s.posting = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.posting = false
		s.mu.Unlock()
	}()

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.srv.cfg.MaxPayload)))
	s.mu.Lock()
	s.postRC = nil // the deadline is no longer closeWith's to set
	closed := s.closed
	s.mu.Unlock()
	if deadline {
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.As(err, &tooBig):
			s.srv.refused(r, RefusedPayloadTooLarge, http.StatusRequestEntityTooLarge, "body over MaxPayload")
			http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
			s.closeWith(ReasonTransportError, true)
		case closed:
			s.srv.refuse(w, r, CodeBadRequest, "session closed")
		case errors.As(err, &ne) && ne.Timeout():
			s.srv.stats.bodyTimeouts.Add(1)
			s.srv.cfg.Logger.Warn("engineio: polling POST body not received in time, closing session", "sid", s.id, "timeout", s.srv.cfg.PingTimeout)
			s.srv.refuse(w, r, CodeBadRequest, "request body timeout")
			s.closeWith(ReasonTransportError, true)
		default:
			s.closeWith(ReasonTransportClose, false)
		}
		return
	}
	if !utf8.Valid(body) {
		// Engine.IO v4 payloads are text (binary packets are base64).
		s.srv.stats.invalidUTF8.Add(1)
		s.srv.cfg.Logger.Debug("engineio: closing session on a polling payload that is not UTF-8", "sid", s.id)
		s.srv.refuse(w, r, CodeBadRequest, "payload is not UTF-8")
		s.closeWith(ReasonTransportError, true)
		return
	}
	err = eio.DecodePayload(body, s.handle)
	if err != nil {
		s.srv.refuse(w, r, CodeBadRequest, err.Error())
		s.closeWith(ReasonTransportError, true)
		return
	}
	w.Header().Set("Content-Type", "text/html")
	_, _ = w.Write([]byte("ok"))
}

// writePayload writes a polling response body, compressed when allowed
// and asked for: as Node does, a response is compressed when at least one
// of its packets may be.
func (s *Server) writePayload(w http.ResponseWriter, r *http.Request, body []byte, compress bool) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	if compress && !s.cfg.DisableCompression && len(body) >= s.cfg.CompressionThreshold {
		if enc := pickEncoding(r.Header.Get("Accept-Encoding")); enc != "" {
			var buf bytes.Buffer
			var zw io.WriteCloser
			if enc == "gzip" {
				zw, _ = gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
			} else {
				zw = zlib.NewWriter(&buf)
			}
			_, _ = zw.Write(body)
			_ = zw.Close()
			h.Set("Content-Encoding", enc)
			h.Add("Vary", "Accept-Encoding")
			body = buf.Bytes()
		}
	}
	_, _ = w.Write(body)
}

func pickEncoding(accept string) string {
	hasDeflate := false
	for _, part := range strings.Split(accept, ",") {
		name, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		switch strings.ToLower(name) {
		case "gzip":
			return "gzip"
		case "deflate":
			hasDeflate = true
		}
	}
	if hasDeflate {
		return "deflate"
	}
	return ""
}
