package client

import (
	"encoding/json"
	"fmt"

	"github.com/siogate/siogate/protocol/socketio"
)

// Connection state recovery, as socket.io-client 4.6+ takes part in it.
//
// A server with recovery on (siogate's gateway.RecoveryConfig, Node's
// connectionStateRecovery) answers a namespace CONNECT with a private
// session id, the pid, next to the sid, and appends to every event it
// stores for replay an offset string as the event's last argument. The
// client keeps, per namespace, the pid and the offset of the last event
// it took in. When the session loses its connection and reconnects on its
// own, the CONNECT of each namespace carries {"pid": ..., "offset": ...}
// merged into its auth payload; a server that still knows the session
// sends the events the client missed (before its CONNECT answer, which
// the client holds back and then dispatches in order) and answers with the
// same sid and pid: the namespace is recovered.
//
// What is kept lives in the session: a new Connect, after Disconnect,
// Shutdown or a session that ended any other way, never presents a pid.

// recoveryState is what a session remembers of one namespace's recovery
// session. It is guarded by Client.mu.
type recoveryState struct {
	pid       string // from the last CONNECT answer; "" when the server gave none
	offset    string // the offset of the last stored event taken in
	hasOffset bool   // offset is set (an empty string is a valid value)
}

// heldEvent is an event that arrived before its namespace's CONNECT
// answer: a missed event replayed by a recovering server.
type heldEvent struct {
	e  *Event
	id uint64
}

// lastStringArg returns the last argument of an event when it is a JSON
// string: the offset a recovering server appends to the events it stores.
func lastStringArg(args socketio.Args) (string, bool) {
	n := args.Len()
	if n == 0 {
		return "", false
	}
	raw := args.Raw(n - 1)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// takeOffsetLocked records the offset event e carries, when its namespace
// has a recovery session, and sets e.Offset. Events that asked for an
// acknowledgement are never stored by the server and carry none, so they
// are skipped (socket.io-client skips them too: their last argument is its
// acknowledgement function). Client.mu must be held.
func (s *session) takeOffsetLocked(e *Event) {
	if e.AckRequested {
		return
	}
	r := s.rec[e.Namespace]
	if r == nil || r.pid == "" {
		return
	}
	off, ok := lastStringArg(e.Args)
	if !ok {
		return
	}
	r.offset, r.hasOffset = off, true
	e.Offset = off
}

// recoveryLocked returns a copy of what the session presents to the
// server when it reconnects, per namespace. Client.mu must be held.
func (s *session) recoveryLocked() map[string]recoveryState {
	if len(s.rec) == 0 {
		return nil
	}
	out := make(map[string]recoveryState, len(s.rec))
	for ns, r := range s.rec {
		if r.pid != "" {
			out[ns] = *r
		}
	}
	return out
}

// connectedLocked updates the session with the CONNECT answer of ns,
// carrying pid (maybe ""), after the connection presented presented. It
// reports whether the namespace was recovered. Client.mu must be held.
func (s *session) connectedLocked(ns, presented, pid string) bool {
	if pid == "" {
		delete(s.rec, ns) // recovery is off on the server
		return false
	}
	if presented != "" && presented == pid {
		return true // the offset goes on from where it was
	}
	// A fresh recovery session: an offset taken in the previous one means
	// nothing in it. (socket.io-client keeps it; the server would then
	// replay from a point before this session began.)
	if s.rec == nil {
		s.rec = map[string]*recoveryState{}
	}
	s.rec[ns] = &recoveryState{pid: pid}
	return false
}

// withRecovery merges the pid and the offset into the JSON object auth (nil
// for none). Keys the application's auth already has win, as in
// socket.io-client, which assigns the auth over {pid, offset}.
func withRecovery(auth []byte, r recoveryState) ([]byte, error) {
	m := map[string]json.RawMessage{}
	if len(auth) > 0 {
		if err := json.Unmarshal(auth, &m); err != nil {
			return nil, fmt.Errorf("client: auth with recovery: %w", err)
		}
	}
	put := func(key, v string) {
		if _, ok := m[key]; !ok {
			b, _ := json.Marshal(v) // a string always encodes
			m[key] = b
		}
	}
	put("pid", r.pid)
	if r.hasOffset {
		put("offset", r.offset)
	}
	return json.Marshal(m)
}

// Recovered reports whether the namespace's current connection recovered
// its session after the previous one dropped: the server has connection
// state recovery on and answered the CONNECT with the pid the client
// presented, so the namespace kept its sid and rooms on the server and
// the events it missed were (or are being) dispatched, before its connect
// handler runs. It is false on a first connection, when the server could
// not recover the session (the events sent meanwhile are lost, as without
// recovery), and when the namespace is not connected.
func (n *Namespace) Recovered() bool { return n.c.recovered(n.ns) }

// Recovered reports whether the main namespace "/" recovered its session
// (see Namespace.Recovered).
func (c *Client) Recovered() bool { return c.recovered(socketio.MainNamespace) }

func (c *Client) recovered(ns string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return false
	}
	s := c.cur.nss[ns]
	return s != nil && s.connected && s.recovered
}

// Recovered reports whether the namespace recovered its session (see
// Namespace.Recovered).
func (b *NamespaceBase) Recovered() bool {
	if n := b.n.Load(); n != nil {
		return n.Recovered()
	}
	return false
}

// Recovered reports whether the namespace recovered its session after the
// last reconnection (see Namespace.Recovered).
func (s *SimpleClient) Recovered() bool {
	c := s.client()
	if c == nil {
		return false
	}
	return c.Of(s.ns).Recovered()
}
