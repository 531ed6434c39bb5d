package gateway

import (
	"maps"
	"net/http"
)

// A user session is a map of values the application keeps for one socket
// (python-socketio's get_session / save_session / session). It lives as
// long as the socket and is dropped when it disconnects.

// GetSession returns a copy of the socket's session (empty when nothing
// was saved).
func (s *Socket) GetSession() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.sessionLocked())
}

// SaveSession replaces the socket's session with a copy of m.
func (s *Socket) SaveSession(m map[string]any) {
	s.mu.Lock()
	s.session = maps.Clone(m)
	s.mu.Unlock()
	s.ns.srv.keep.touch(s)
}

// UpdateSession runs fn on the live session under the socket's session
// lock, so that concurrent updates do not lose each other's changes (the
// Go form of python's `with sio.session(sid) as session:`). fn must not
// call the socket's session methods.
func (s *Socket) UpdateSession(fn func(session map[string]any)) {
	s.smu.Lock()
	defer s.smu.Unlock()
	s.mu.Lock()
	m := maps.Clone(s.sessionLocked())
	s.mu.Unlock()
	fn(m)
	s.mu.Lock()
	s.session = m
	s.mu.Unlock()
	s.ns.srv.keep.touch(s)
}

func (s *Socket) sessionLocked() map[string]any {
	if s.session == nil {
		s.session = map[string]any{}
	}
	return s.session
}

// GetSession returns a copy of the session of socket sid.
func (ns *Namespace) GetSession(sid string) (map[string]any, error) {
	s, ok := ns.Socket(sid)
	if !ok {
		return nil, ErrUnknownSocket
	}
	return s.GetSession(), nil
}

// SaveSession replaces the session of socket sid.
func (ns *Namespace) SaveSession(sid string, m map[string]any) error {
	s, ok := ns.Socket(sid)
	if !ok {
		return ErrUnknownSocket
	}
	s.SaveSession(m)
	return nil
}

// UpdateSession modifies the session of socket sid under its lock.
func (ns *Namespace) UpdateSession(sid string, fn func(session map[string]any)) error {
	s, ok := ns.Socket(sid)
	if !ok {
		return ErrUnknownSocket
	}
	s.UpdateSession(fn)
	return nil
}

// Request returns the HTTP request that opened the connection of socket
// sid (python's environ).
func (ns *Namespace) Request(sid string) (*http.Request, error) {
	s, ok := ns.Socket(sid)
	if !ok {
		return nil, ErrUnknownSocket
	}
	return s.Request(), nil
}

// Transport returns the transport of socket sid: "polling" or
// "websocket".
func (ns *Namespace) Transport(sid string) (string, error) {
	s, ok := ns.Socket(sid)
	if !ok {
		return "", ErrUnknownSocket
	}
	return s.Transport(), nil
}
