package gateway

import (
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/siogate/siogate/gateway/engineio"
	"github.com/siogate/siogate/protocol/socketio"
)

// DisconnectReason says why a socket left its namespace. The values are
// the ones socket.io's JavaScript client and server use.
type DisconnectReason string

// The disconnect reasons.
const (
	// ReasonClientNamespaceDisconnect: the client left the namespace.
	ReasonClientNamespaceDisconnect DisconnectReason = "client namespace disconnect"
	// ReasonServerNamespaceDisconnect: the server called Disconnect.
	ReasonServerNamespaceDisconnect DisconnectReason = "server namespace disconnect"
	// ReasonTransportClose: the connection was closed (by the client, or
	// dropped).
	ReasonTransportClose DisconnectReason = "transport close"
	// ReasonTransportError: the connection failed (bad framing, oversized
	// payload, write error, a client too slow to keep up).
	ReasonTransportError DisconnectReason = "transport error"
	// ReasonPingTimeout: the client stopped answering pings.
	ReasonPingTimeout DisconnectReason = "ping timeout"
	// ReasonParseError: the client sent a malformed Socket.IO packet.
	ReasonParseError DisconnectReason = "parse error"
	// ReasonServerShutdown: the server is shutting down.
	ReasonServerShutdown DisconnectReason = "server shutting down"
	// ReasonForcedClose: the server closed the whole connection.
	ReasonForcedClose DisconnectReason = "forced close"
)

func reasonFromEngine(r engineio.Reason) DisconnectReason {
	switch r {
	case engineio.ReasonPingTimeout:
		return ReasonPingTimeout
	case engineio.ReasonTransportError:
		return ReasonTransportError
	case engineio.ReasonShutdown:
		return ReasonServerShutdown
	case engineio.ReasonServerClose:
		return ReasonForcedClose
	default:
		return ReasonTransportClose
	}
}

// conn is one client connection (an Engine.IO session) and the sockets it
// has opened, one per namespace.
type conn struct {
	srv *Server
	ss  *engineio.Session
	dec socketio.PacketDecoder // only used from onMessage, which never overlaps

	mu           sync.Mutex
	sockets      []*Socket // one per namespace; a connection joins few
	connectTimer *time.Timer
	closeReason  DisconnectReason
	closed       bool
}

func newConn(srv *Server, ss *engineio.Session) *conn {
	c := &conn{srv: srv, ss: ss}
	c.dec = srv.cfg.Parser.NewDecoder(socketio.Limits{MaxBytes: srv.engine.Config().MaxPayload})
	c.connectTimer = time.AfterFunc(srv.cfg.ConnectTimeout, c.onConnectTimeout)
	return c
}

func (c *conn) onConnectTimeout() {
	c.mu.Lock()
	idle := len(c.sockets) == 0 && !c.closed
	c.mu.Unlock()
	if idle {
		c.srv.log.Debug("gateway: no namespace joined in time, closing", "sid", c.ss.ID())
		c.ss.Close()
	}
}

func (c *conn) socket(nsp string) *Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.sockets {
		if s.ns.name == nsp {
			return s
		}
	}
	return nil
}

// fail closes the connection because the client broke the protocol.
func (c *conn) fail(err error) {
	c.srv.log.Debug("gateway: closing connection on protocol error", "sid", c.ss.ID(), "err", err)
	c.mu.Lock()
	if c.closeReason == "" {
		c.closeReason = ReasonParseError
	}
	c.mu.Unlock()
	c.ss.Close()
}

func (c *conn) onMessage(data []byte, binary bool) {
	p, err := c.dec.Add(data, binary)
	if err != nil {
		c.fail(err)
		return
	}
	if p == nil {
		return // attachments pending
	}
	switch p.Type {
	case socketio.Connect:
		c.connect(p)
	case socketio.Disconnect:
		if s := c.socket(p.Namespace); s != nil {
			s.onDisconnect(ReasonClientNamespaceDisconnect)
		}
	case socketio.Event, socketio.BinaryEvent:
		s := c.socket(p.Namespace)
		if s == nil {
			return // not connected to that namespace: ignored, as socket.io does
		}
		if !s.allowEvent() {
			s.floodEvent()
			return
		}
		if c.srv.cfg.AsyncHandlers {
			go s.onEvent(p)
		} else {
			s.onEvent(p)
		}
	case socketio.Ack, socketio.BinaryAck:
		if s := c.socket(p.Namespace); s != nil {
			s.onAck(p)
		}
	default:
		c.fail(errors.New("gateway: unexpected packet type from client: " + p.Type.String()))
	}
}

var (
	invalidNamespace  = json.RawMessage(`{"message":"Invalid namespace"}`)
	tooManyNamespaces = json.RawMessage(`{"message":"too many namespaces on this connection"}`)
)

// count returns how many namespaces the connection is in.
func (c *conn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sockets)
}

func (c *conn) connect(p *socketio.Packet) {
	auth := json.RawMessage(p.Data)
	if len(auth) == 0 {
		auth = json.RawMessage("{}")
	} else {
		auth = append(json.RawMessage(nil), auth...)
	}
	if lim := c.srv.cfg.Limits.NamespacesPerConnection; lim > 0 && c.count() >= lim && c.socket(p.Namespace) == nil {
		c.srv.limitHit(LimitNamespacesPerConnection, "conn", c.ss.ID(), "limit", lim)
		c.sendPacket(&socketio.Packet{Type: socketio.ConnectError, Namespace: p.Namespace, Data: tooManyNamespaces})
		return
	}
	ns := c.srv.lookup(p.Namespace, auth)
	if ns == nil {
		c.sendPacket(&socketio.Packet{Type: socketio.ConnectError, Namespace: p.Namespace, Data: invalidNamespace})
		return
	}
	if c.socket(ns.name) != nil {
		c.srv.connectAbandoned(ns)
		return // already connected to this namespace
	}
	ns.connect(newSocket(ns, c, auth))
}

func (c *conn) sendPacket(p *socketio.Packet) {
	f, att, err := c.srv.encode(p)
	if err != nil {
		c.srv.log.Error("gateway: cannot encode a packet", "err", err)
		return
	}
	if att == nil {
		_ = c.ss.Send(f)
		return
	}
	_ = c.ss.Send(att...)
}

func (c *conn) add(s *Socket) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.sockets = slices.DeleteFunc(c.sockets, func(o *Socket) bool { return o.ns.name == s.ns.name })
	c.sockets = append(c.sockets, s)
	c.stopConnectTimer()
	return true
}

// stopConnectTimer stops the connect timeout and lets the timer go: an
// idle connection holds nothing it no longer needs. c.mu is held.
func (c *conn) stopConnectTimer() {
	if c.connectTimer != nil {
		c.connectTimer.Stop()
		c.connectTimer = nil
	}
}

func (c *conn) remove(s *Socket) {
	c.mu.Lock()
	c.sockets = slices.DeleteFunc(c.sockets, func(o *Socket) bool { return o == s })
	c.mu.Unlock()
}

// disconnectAll makes every socket of the connection leave its namespace
// with a DISCONNECT packet, then closes the connection once those packets
// are out (Node's client._disconnect): the client sees "io server
// disconnect" and does not reconnect by itself.
func (c *conn) disconnectAll() {
	c.mu.Lock()
	socks := slices.Clone(c.sockets)
	c.mu.Unlock()
	for _, s := range socks {
		s.Disconnect(false)
	}
	go func() {
		c.ss.Drained(closeDrain)
		c.ss.Close()
	}()
}

// closeDrain bounds how long a closing connection waits for its last
// packets to go out.
const closeDrain = 2 * time.Second

func (c *conn) onClose(reason DisconnectReason) {
	c.mu.Lock()
	c.closed = true
	c.stopConnectTimer()
	if c.closeReason != "" {
		reason = c.closeReason
	}
	socks := make([]*Socket, 0, len(c.sockets))
	for _, s := range c.sockets {
		socks = append(socks, s)
	}
	c.mu.Unlock()
	for _, s := range socks {
		s.onDisconnect(reason)
	}
}

// encodeFrames turns a packet into Engine.IO frames: the text frame, and
// when it has attachments, all frames (text first) in the second result.
func encodeFrames(p *socketio.Packet) (engineio.Frame, []engineio.Frame) {
	text := make([]byte, 0, len(p.Data)+len(p.Namespace)+24)
	text = append(text, '4')
	text = socketio.Append(text, p)
	f := engineio.Frame{Data: text}
	if len(p.Attachments) == 0 {
		return f, nil
	}
	all := make([]engineio.Frame, 0, 1+len(p.Attachments))
	all = append(all, f)
	for _, a := range p.Attachments {
		all = append(all, engineio.Frame{Data: a, Binary: true})
	}
	return f, all
}
