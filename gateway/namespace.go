package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"sync"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/protocol/socketio"
)

// ConnectHandler runs when a client asks to join a namespace. auth is the
// client's CONNECT payload ("{}" when it sent none). Returning an error
// refuses the connection: a *ConnectError sends its message and data to the
// client, any other error its text.
type ConnectHandler func(s *Socket, auth json.RawMessage) error

// DisconnectHandler runs once when a socket leaves its namespace.
type DisconnectHandler func(s *Socket, reason DisconnectReason)

// EventHandler handles one event. When the client asked for an
// acknowledgement, the returned values are its arguments (nil: none),
// unless the handler already called e.Ack.
type EventHandler func(s *Socket, e *Event) []any

// ServerEventHandler handles an event sent by another gateway node with
// ServerSideEmit; its result answers the sender when it waits for one.
type ServerEventHandler func(args socketio.Args) []any

// ConnectError refuses a namespace connection with a message and optional
// data, both sent to the client in the CONNECT_ERROR packet.
type ConnectError struct {
	Message string
	Data    any
}

// Error returns the refusal message.
func (e *ConnectError) Error() string { return e.Message }

// ErrConnectionRejected is the refusal message when a connect handler
// returns an error with no text.
var ErrConnectionRejected = errors.New("Connection rejected by server") //nolint:staticcheck // the client sees this text

// Namespace is one Socket.IO namespace: its handlers, its local sockets
// and its adapter. It implements adapter.Local.
type Namespace struct {
	srv  *Server
	name string

	hmu           sync.RWMutex
	onConnect     ConnectHandler
	onDisconnect  DisconnectHandler
	handlers      map[string]EventHandler
	classHandlers map[string]EventHandler // from Register; On wins
	serverEvents  map[string]ServerEventHandler

	mu      sync.RWMutex
	sockets map[string]*Socket

	adapter adapter.Adapter
}

var _ adapter.Local = (*Namespace)(nil)

func newNamespace(srv *Server, name string) *Namespace {
	ns := &Namespace{
		srv:      srv,
		name:     name,
		handlers: make(map[string]EventHandler),
		sockets:  make(map[string]*Socket),
	}
	ns.adapter = srv.cfg.Adapter(ns)
	return ns
}

// Name returns the namespace's name, such as "/" or "/chat".
func (ns *Namespace) Name() string { return ns.name }

// Adapter returns the namespace's adapter.
func (ns *Namespace) Adapter() adapter.Adapter { return ns.adapter }

// OnConnect sets the connect handler.
func (ns *Namespace) OnConnect(h ConnectHandler) {
	ns.hmu.Lock()
	ns.onConnect = h
	ns.hmu.Unlock()
}

// OnDisconnect sets the disconnect handler.
func (ns *Namespace) OnDisconnect(h DisconnectHandler) {
	ns.hmu.Lock()
	ns.onDisconnect = h
	ns.hmu.Unlock()
}

// On sets the handler of event. The event "*" catches every event that
// has no handler of its own; e.Name tells which.
func (ns *Namespace) On(event string, h EventHandler) {
	ns.hmu.Lock()
	ns.handlers[event] = h
	ns.hmu.Unlock()
}

// OnServerEvent sets the handler of an event other nodes send with
// ServerSideEmit.
func (ns *Namespace) OnServerEvent(event string, h ServerEventHandler) {
	ns.hmu.Lock()
	if ns.serverEvents == nil {
		ns.serverEvents = make(map[string]ServerEventHandler)
	}
	ns.serverEvents[event] = h
	ns.hmu.Unlock()
}

// connectHandler resolves the connect handler, falling back to the
// catch-all namespace's.
func (ns *Namespace) connectHandler() ConnectHandler {
	ns.hmu.RLock()
	h := ns.onConnect
	ns.hmu.RUnlock()
	if h == nil {
		if ca := ns.srv.catchAllNS(); ca != nil {
			ca.hmu.RLock()
			h = ca.onConnect
			ca.hmu.RUnlock()
		}
	}
	return h
}

func (ns *Namespace) disconnectHandler() DisconnectHandler {
	ns.hmu.RLock()
	h := ns.onDisconnect
	ns.hmu.RUnlock()
	if h == nil {
		if ca := ns.srv.catchAllNS(); ca != nil {
			ca.hmu.RLock()
			h = ca.onDisconnect
			ca.hmu.RUnlock()
		}
	}
	return h
}

// eventHandler finds the handler for event: the namespace's own, its
// catch-all event handler, then the catch-all namespace's.
func (ns *Namespace) eventHandler(event string) EventHandler {
	for _, n := range [2]*Namespace{ns, ns.srv.catchAllNS()} {
		if n == nil {
			continue
		}
		n.hmu.RLock()
		h := n.handlers[event]
		if h == nil {
			h = n.classHandlers[event]
		}
		if h == nil {
			h = n.handlers["*"]
		}
		if h == nil {
			h = n.classHandlers["*"]
		}
		n.hmu.RUnlock()
		if h != nil {
			return h
		}
	}
	return nil
}

func (s *Server) catchAllNS() *Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.catchAll
}

// connect runs the connect handler and admits or refuses s.
func (ns *Namespace) connect(s *Socket) {
	h := ns.connectHandler()
	if ns.srv.cfg.AlwaysConnect || h == nil {
		if !ns.admit(s) {
			return
		}
		if h != nil {
			if err := ns.runConnect(h, s); err != nil {
				s.Disconnect(false)
			}
		}
		return
	}
	if err := ns.runConnect(h, s); err != nil {
		ns.adapter.DelAll(s.id)
		s.conn.sendPacket(connectErrorPacket(ns.srv.cfg.JSON, ns.name, err))
		return
	}
	ns.admit(s)
}

func (ns *Namespace) runConnect(h ConnectHandler, s *Socket) (err error) {
	defer func() {
		if r := recover(); r != nil {
			ns.srv.log.Error("gateway: connect handler panicked", "nsp", ns.name, "panic", r)
			err = ErrConnectionRejected
		}
	}()
	return h(s, s.auth)
}

func connectErrorPacket(codec socketio.JSONCodec, nsp string, err error) *socketio.Packet {
	body := map[string]any{"message": err.Error()}
	var ce *ConnectError
	if errors.As(err, &ce) {
		if ce.Message == "" {
			body["message"] = ErrConnectionRejected.Error()
		}
		if ce.Data != nil {
			body["data"] = ce.Data
		}
	} else if err.Error() == "" {
		body["message"] = ErrConnectionRejected.Error()
	}
	data, _, encErr := socketio.AppendArgsWith(codec, nil, []any{body})
	if encErr != nil {
		data = []byte(`[{"message":"Connection rejected by server"}]`)
	}
	return &socketio.Packet{Type: socketio.ConnectError, Namespace: nsp, Data: data[1 : len(data)-1]}
}

// admit registers s, answers the CONNECT and flushes what the connect
// handler emitted meanwhile.
func (ns *Namespace) admit(s *Socket) bool {
	if !s.conn.add(s) {
		return false
	}
	ns.mu.Lock()
	ns.sockets[s.id] = s
	ns.mu.Unlock()
	ns.adapter.AddAll(s.id, s.id)
	data := socketio.AppendString([]byte(`{"sid":`), s.id)
	data = append(data, '}')
	s.connected(&socketio.Packet{Type: socketio.Connect, Namespace: ns.name, Data: data})
	ns.srv.log.Debug("gateway: socket connected", "nsp", ns.name, "sid", s.id, "conn", s.conn.ss.ID())
	ns.srv.obs.each(func(o Observer) { o.SocketConnected(s) })
	s.leaveIfAsked()
	return true
}

func (ns *Namespace) removeSocket(s *Socket) {
	ns.mu.Lock()
	if ns.sockets[s.id] == s {
		delete(ns.sockets, s.id)
	}
	ns.mu.Unlock()
	ns.adapter.DelAll(s.id)
}

// LocalSocket returns the socket with id sid if it is connected to this
// node.
func (ns *Namespace) LocalSocket(sid string) (*Socket, bool) {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	s, ok := ns.sockets[sid]
	return s, ok
}

// Count returns the number of sockets connected to the namespace on this
// node.
func (ns *Namespace) Count() int {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	return len(ns.sockets)
}

// Deliver implements adapter.Local: it encodes p once and queues the same
// frames on every given socket.
func (ns *Namespace) Deliver(p *socketio.Packet, sids []string, flags adapter.Flags) int {
	f, all, err := ns.srv.encode(p)
	if err != nil {
		ns.srv.log.Error("gateway: cannot encode a broadcast", "nsp", ns.name, "err", err)
		return 0
	}
	f = f.Shared(flags.Compress) // compressed at most once for all sockets
	for i := range all {
		all[i] = all[i].Shared(flags.Compress)
	}
	n := 0
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	for _, sid := range sids {
		s := ns.sockets[sid]
		if s == nil {
			continue
		}
		var err error
		switch {
		case flags.Volatile && all == nil:
			err = s.conn.ss.SendVolatile(f)
		case flags.Volatile:
			err = s.conn.ss.SendVolatile(all...)
		case all == nil:
			err = s.conn.ss.Send(f)
		default:
			err = s.conn.ss.Send(all...)
		}
		if err == nil {
			n++
		}
	}
	return n
}

// DeliverWithAck implements adapter.Local.
func (ns *Namespace) DeliverWithAck(ctx context.Context, p *socketio.Packet, sids []string, flags adapter.Flags, onAck adapter.AckFunc) int {
	n := 0
	for _, sid := range sids {
		s, ok := ns.LocalSocket(sid)
		if !ok {
			continue
		}
		cp := *p
		sid := sid
		if s.sendWithAck(ctx, &cp, func(args socketio.Args, err error) {
			if err == nil {
				onAck(sid, args)
			}
		}) == nil {
			n++
		}
	}
	return n
}

// Disconnect implements adapter.Local.
func (ns *Namespace) Disconnect(sids []string, close bool) {
	for _, sid := range sids {
		if s, ok := ns.LocalSocket(sid); ok {
			s.Disconnect(close)
		}
	}
}

// Socket implements adapter.Local: it describes a local socket.
func (ns *Namespace) Socket(sid string) (adapter.SocketInfo, bool) {
	s, ok := ns.LocalSocket(sid)
	if !ok {
		return adapter.SocketInfo{}, false
	}
	return s.Info(), true
}

// OnServerSideEmit implements adapter.Local.
func (ns *Namespace) OnServerSideEmit(event string, args socketio.Args, reply func([]any)) {
	ns.hmu.RLock()
	h := ns.serverEvents[event]
	ns.hmu.RUnlock()
	if h == nil {
		return
	}
	res := h(args)
	if reply != nil {
		reply(res)
	}
}

// Emit sends an event to every socket of the namespace.
func (ns *Namespace) Emit(event string, args ...any) error { return ns.op().Emit(event, args...) }

// Send emits the "message" event to every socket of the namespace.
func (ns *Namespace) Send(args ...any) error { return ns.Emit("message", args...) }

// To selects the sockets in rooms (or with these sids) for a broadcast.
func (ns *Namespace) To(rooms ...string) Operator { return ns.op().To(rooms...) }

// In is To.
func (ns *Namespace) In(rooms ...string) Operator { return ns.op().To(rooms...) }

// Except excludes the sockets in rooms (or with these sids).
func (ns *Namespace) Except(rooms ...string) Operator { return ns.op().Except(rooms...) }

// Local restricts the next operation to this node.
func (ns *Namespace) Local() Operator { return ns.op().Local() }

func (ns *Namespace) op() Operator {
	return Operator{ns: ns, opts: adapter.BroadcastOptions{Flags: adapter.Flags{Compress: true}}} // as Node: compress unless Compress(false)
}

// EnterRoom puts the socket sid into room. An unknown sid is a no-op.
func (ns *Namespace) EnterRoom(sid, room string) error {
	return ns.adapter.AddSockets(context.Background(), adapter.BroadcastOptions{Rooms: []string{sid}}, []string{room})
}

// LeaveRoom takes the socket sid out of room. An unknown sid is a no-op.
func (ns *Namespace) LeaveRoom(sid, room string) error {
	return ns.adapter.DelSockets(context.Background(), adapter.BroadcastOptions{Rooms: []string{sid}}, []string{room})
}

// CloseRoom takes every socket out of room.
func (ns *Namespace) CloseRoom(room string) error {
	return ns.adapter.DelSockets(context.Background(), adapter.BroadcastOptions{Rooms: []string{room}}, []string{room})
}

// Rooms returns the rooms of the local socket sid (its own id included);
// nil for an unknown sid.
func (ns *Namespace) Rooms(sid string) []string {
	if _, ok := ns.LocalSocket(sid); !ok {
		return nil
	}
	return ns.adapter.Rooms(sid)
}

// DisconnectSocket disconnects the socket sid from the namespace. An
// unknown sid is a no-op.
func (ns *Namespace) DisconnectSocket(sid string) error {
	return ns.adapter.DisconnectSockets(context.Background(), adapter.BroadcastOptions{Rooms: []string{sid}}, false)
}

// ErrUnknownSocket is returned when a sid names no socket of the namespace.
var ErrUnknownSocket = errors.New("gateway: no such socket in this namespace")

// Call emits an event to the socket sid and waits for its
// acknowledgement (see Socket.Call).
// A socket on another node is reached through the adapter.
func (ns *Namespace) Call(ctx context.Context, sid, event string, args ...any) (socketio.Args, error) {
	if s, ok := ns.LocalSocket(sid); ok {
		return s.Call(ctx, event, args...)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ns.srv.cfg.AckTimeout)
		defer cancel()
	}
	res, err := ns.To(sid).EmitWithAck(ctx, event, args...)
	if len(res) > 0 {
		return res[0], nil
	}
	if err == nil {
		err = ErrUnknownSocket
	}
	return socketio.Args{}, err
}

// queryOf copies a request's query values.
func queryOf(u *url.URL) map[string][]string {
	if u == nil {
		return nil
	}
	return u.Query()
}
