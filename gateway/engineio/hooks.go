package engineio

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// ErrorCode is an Engine.IO error code, sent with a refused request.
type ErrorCode int

// The Engine.IO error codes (engine.io's Server.errors).
const (
	CodeUnknownTransport           ErrorCode = 0
	CodeUnknownSID                 ErrorCode = 1
	CodeBadHandshakeMethod         ErrorCode = 2
	CodeBadRequest                 ErrorCode = 3
	CodeForbidden                  ErrorCode = 4
	CodeUnsupportedProtocolVersion ErrorCode = 5
)

// String returns the code's standard message, "Transport unknown" and so on.
func (c ErrorCode) String() string {
	switch c {
	case CodeUnknownTransport:
		return "Transport unknown"
	case CodeUnknownSID:
		return "Session ID unknown"
	case CodeBadHandshakeMethod:
		return "Bad handshake method"
	case CodeBadRequest:
		return "Bad request"
	case CodeForbidden:
		return "Forbidden"
	case CodeUnsupportedProtocolVersion:
		return "Unsupported protocol version"
	}
	return "Error " + strconv.Itoa(int(c))
}

// Error is a refusal Config.AllowRequest may return to choose the code and
// message of the answer; any other error refuses with CodeForbidden and
// its text as the message.
type Error struct {
	Code ErrorCode
	// Message replaces the code's standard message when not empty.
	Message string
}

// Error returns the message sent: Message, or the code's standard one.
func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return e.Code.String()
}

// refuse answers a request as engine.io does when it refuses one: HTTP 400
// (403 for CodeForbidden) with the JSON body {"code":N,"message":"..."}.
// why is logged (see refused), not sent.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, code ErrorCode, why string) {
	s.refuseWith(w, r, &Error{Code: code}, refusalOf(code), why)
}

func (s *Server) refuseWith(w http.ResponseWriter, r *http.Request, e *Error, cause Refusal, why string) {
	status := http.StatusBadRequest
	if e.Code == CodeForbidden {
		status = http.StatusForbidden
	}
	s.refused(r, cause, status, why)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"code":` + strconv.Itoa(int(e.Code)) + `,"message":` + strconv.Quote(e.Error()) + `}`))
}

// allow asks Config.AllowRequest about a handshake; nil means go ahead.
func (s *Server) allow(r *http.Request) *Error {
	if s.cfg.AllowRequest == nil {
		return nil
	}
	err := s.cfg.AllowRequest(r)
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeForbidden, Message: err.Error()}
}

// addHeaders runs the header hooks on a response's header: InitialHeaders
// for a handshake, then Headers.
func (s *Server) addHeaders(h http.Header, r *http.Request, handshake bool) {
	if handshake && s.cfg.InitialHeaders != nil {
		s.cfg.InitialHeaders(r, h)
	}
	if s.cfg.Headers != nil {
		s.cfg.Headers(r, h)
	}
}

// sessionCookie returns the cookie to set on the handshake of session sid,
// or nil.
func (s *Server) sessionCookie(r *http.Request, sid string) *http.Cookie {
	c := s.cfg.Cookie
	if s.cfg.SessionCookie != nil {
		c = s.cfg.SessionCookie(r)
	}
	if c == nil {
		return nil
	}
	ck := *c
	ck.Value = sid
	if ck.Path == "" {
		ck.Path = "/"
	}
	if ck.SameSite == 0 || ck.SameSite == http.SameSiteDefaultMode {
		ck.SameSite = http.SameSiteLaxMode
	}
	return &ck
}

// upgradeHeaders returns the header lines the hooks add to a WebSocket
// upgrade response ("Key: value\r\n" each), or nil. sid is the new
// session's id on a handshake, empty on an upgrade.
func (s *Server) upgradeHeaders(r *http.Request, sid string) []byte {
	h := http.Header{}
	if sid != "" {
		if ck := s.sessionCookie(r, sid); ck != nil {
			h.Add("Set-Cookie", ck.String())
		}
	}
	s.addHeaders(h, r, sid != "")
	if len(h) == 0 {
		return nil
	}
	var b bytes.Buffer
	clean := strings.NewReplacer("\r", " ", "\n", " ")
	for k, vs := range h {
		for _, v := range vs {
			b.WriteString(clean.Replace(k) + ": " + clean.Replace(v) + "\r\n")
		}
	}
	return b.Bytes()
}

// gws writes the upgrade response itself, with only the headers its
// options fix for every connection. Headers chosen per request go in
// through the hijacked connection (Server.upgrade wraps it): a headerConn,
// whose first write (the whole response, one Write call in gws) gets the
// extra lines before the blank line that ends the header.

// headerConn adds header lines to the response its first Write carries.
// Later writes go straight through; the frame writer bypasses it (see
// rawConn).
type headerConn struct {
	net.Conn
	extra []byte // nil once written
}

// Write writes p, with the extra header lines inserted the first time.
func (c *headerConn) Write(p []byte) (int, error) {
	if c.extra == nil {
		return c.Conn.Write(p)
	}
	end := bytes.Index(p, []byte("\r\n\r\n"))
	if end < 0 {
		return c.Conn.Write(p)
	}
	b := make([]byte, 0, len(p)+len(c.extra))
	b = append(b, p[:end+2]...)
	b = append(b, c.extra...)
	b = append(b, p[end+2:]...)
	c.extra = nil
	if _, err := c.Conn.Write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}

// rawConn returns the connection under a headerConn.
func rawConn(c net.Conn) net.Conn {
	if h, ok := c.(*headerConn); ok {
		return h.Conn
	}
	return c
}
