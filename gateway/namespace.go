package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/protocol/socketio"
)

// ConnectHandler runs when a client asks to join a namespace, after the
// middlewares. auth is the client's CONNECT payload ("{}" when it sent
// none). Returning an error refuses the connection: a *ConnectError sends
// its message and data to the client, any other error its text.
type ConnectHandler func(s *Socket, auth json.RawMessage) error

// Middleware runs, in the order added with Use, before a namespace's
// connect handler (Node's namespace.use). An error refuses the connection
// as a connect handler's error does; the rest of the chain and the connect
// handler are then skipped.
type Middleware func(s *Socket) error

// DisconnectHandler runs once when a socket leaves its namespace. While it
// runs, the socket's rooms, session and request can still be read, by the
// socket or by its id through the namespace (python-socketio's
// behaviour); broadcasts no longer reach it.
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
// and its adapter. A parent namespace (see Server.OfFunc) has no sockets
// of its own: its handlers and middlewares serve the child namespaces it
// creates, and its broadcasts reach all of them.
type Namespace struct {
	srv  *Server
	name string

	// parent serves the handlers this namespace lacks: the parent that
	// created it, if any.
	parent *Namespace
	// match is set on parent namespaces: it accepts child names.
	match func(name string, auth json.RawMessage) bool
	// dynamic: created for a client's CONNECT (under a parent, "*" or
	// Config.Namespaces), removed when it empties unless the
	// configuration keeps it.
	dynamic atomic.Bool

	hmu             sync.RWMutex
	onConnect       ConnectHandler
	onDisconnect    DisconnectHandler
	onDisconnecting DisconnectHandler
	middlewares     []Middleware
	handlers        map[string]EventHandler
	classHandlers   map[string]EventHandler // from Register; On wins
	serverEvents    map[string]ServerEventHandler
	children        map[*Namespace]struct{} // of a parent namespace

	mu      sync.RWMutex
	sockets map[string]*Socket // admitted: reached by broadcasts
	// others are sockets still connecting (in the middlewares or the
	// connect handler) or leaving (in the disconnect handler): found by
	// id, never reached by broadcasts.
	others map[string]*Socket
	// pending counts connects looked up but not yet registered; guarded
	// by srv.mu.
	pending int

	adapter adapter.Adapter
}

func newNamespace(srv *Server, name string) *Namespace {
	ns := &Namespace{
		srv:      srv,
		name:     name,
		handlers: make(map[string]EventHandler),
		sockets:  make(map[string]*Socket),
	}
	ns.adapter = srv.cfg.Adapter((*localSide)(ns))
	return ns
}

// Name returns the namespace's name, such as "/" or "/chat".
func (ns *Namespace) Name() string { return ns.name }

// Adapter returns the namespace's adapter (nil for a parent namespace).
func (ns *Namespace) Adapter() adapter.Adapter { return ns.adapter }

// OnConnect sets the connect handler.
func (ns *Namespace) OnConnect(h ConnectHandler) {
	ns.hmu.Lock()
	ns.onConnect = h
	ns.hmu.Unlock()
}

// Use adds connect middlewares, run in order before the connect handler
// of this namespace (and of its children, for a parent namespace).
func (ns *Namespace) Use(mw ...Middleware) {
	ns.hmu.Lock()
	ns.middlewares = append(ns.middlewares, mw...)
	ns.hmu.Unlock()
}

// OnDisconnecting sets a handler that runs when a socket starts leaving,
// before the disconnect handler (Node's "disconnecting" event). Both see
// the socket's rooms.
func (ns *Namespace) OnDisconnecting(h DisconnectHandler) {
	ns.hmu.Lock()
	ns.onDisconnecting = h
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

// chain returns the namespaces whose handlers serve ns, in order of
// precedence: ns, its parent, the catch-all namespace.
func (ns *Namespace) chain() [3]*Namespace {
	out := [3]*Namespace{ns, ns.parent, nil}
	if ca := ns.srv.catchAllNS(); ca != ns && ca != ns.parent {
		out[2] = ca
	}
	return out
}

// connectHandler resolves the connect handler along the chain.
func (ns *Namespace) connectHandler() ConnectHandler {
	for _, n := range ns.chain() {
		if n == nil {
			continue
		}
		n.hmu.RLock()
		h := n.onConnect
		n.hmu.RUnlock()
		if h != nil {
			return h
		}
	}
	return nil
}

func (ns *Namespace) disconnectHandlers() (disconnecting, disconnect DisconnectHandler) {
	for _, n := range ns.chain() {
		if n == nil {
			continue
		}
		n.hmu.RLock()
		if disconnecting == nil {
			disconnecting = n.onDisconnecting
		}
		if disconnect == nil {
			disconnect = n.onDisconnect
		}
		n.hmu.RUnlock()
	}
	return disconnecting, disconnect
}

// connectMiddlewares returns the middlewares a connect runs: the parent's
// (or the catch-all namespace's, for a namespace it created) then the
// namespace's own.
func (ns *Namespace) connectMiddlewares() []Middleware {
	var out []Middleware
	for _, n := range [2]*Namespace{ns.parent, ns} {
		if n == nil {
			continue
		}
		n.hmu.RLock()
		out = append(out, n.middlewares...)
		n.hmu.RUnlock()
	}
	return out
}

// eventHandler finds the handler for event along the chain: each
// namespace's own handler, then its catch-all event handler.
func (ns *Namespace) eventHandler(event string) EventHandler {
	for _, n := range ns.chain() {
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

func (ns *Namespace) serverEventHandler(event string) ServerEventHandler {
	for _, n := range ns.chain() {
		if n == nil {
			continue
		}
		n.hmu.RLock()
		h := n.serverEvents[event]
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

// connect runs the middlewares and the connect handler, and admits or
// refuses s. The socket can be found by its id (for sessions and rooms)
// from the start.
func (ns *Namespace) connect(s *Socket) {
	recovered := ns.srv.cfg.Recovery.Enabled && ns.prepareRecovery(s)
	if !recovered {
		ns.mu.Lock()
		if ns.others == nil {
			ns.others = make(map[string]*Socket)
		}
		ns.others[s.id] = s
		ns.mu.Unlock()
	}
	ns.srv.connectStarted(ns)

	var mws []Middleware
	if !recovered || ns.srv.cfg.Recovery.RunMiddlewares {
		mws = ns.connectMiddlewares()
	}
	for _, mw := range mws {
		if err := ns.runConnect(func(s *Socket, _ json.RawMessage) error { return mw(s) }, s); err != nil {
			ns.refuse(s, err)
			return
		}
	}
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
		ns.refuse(s, err)
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

// refuse answers a connect with CONNECT_ERROR and forgets the socket.
func (ns *Namespace) refuse(s *Socket, err error) {
	s.mu.Lock()
	s.gone = true
	s.pending = nil
	closeToo := s.leavingClose
	s.mu.Unlock()
	ns.forget(s)
	s.conn.sendPacket(connectErrorPacket(ns.srv.cfg.JSON, ns.name, err))
	if closeToo {
		s.conn.disconnectAll() // Disconnect(true) during the connect
	}
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

// admit registers s, answers the CONNECT and flushes what the middlewares
// and the connect handler emitted meanwhile.
func (ns *Namespace) admit(s *Socket) bool {
	if !s.conn.add(s) {
		s.mu.Lock()
		s.gone = true
		s.mu.Unlock()
		ns.forget(s)
		return false
	}
	ns.mu.Lock()
	delete(ns.others, s.id)
	ns.sockets[s.id] = s
	ns.mu.Unlock()
	ns.adapter.AddAll(s.id, s.id)
	data := socketio.AppendString([]byte(`{"sid":`), s.id)
	if s.pid != "" {
		data = socketio.AppendString(append(data, `,"pid":`...), s.pid)
	}
	data = append(data, '}')
	s.connected(&socketio.Packet{Type: socketio.Connect, Namespace: ns.name, Data: data})
	ns.srv.log.Debug("gateway: socket connected", "nsp", ns.name, "sid", s.id, "conn", s.conn.ss.ID())
	ns.srv.obs.each(func(o Observer) { o.SocketConnected(s) })
	ns.srv.keep.touch(s)
	s.leaveIfAsked()
	return true
}

// retire stops broadcasts from reaching a leaving socket while keeping it
// findable by id until forget.
func (ns *Namespace) retire(s *Socket) {
	ns.mu.Lock()
	if ns.sockets[s.id] == s {
		delete(ns.sockets, s.id)
		if ns.others == nil {
			ns.others = make(map[string]*Socket)
		}
		ns.others[s.id] = s
	}
	ns.mu.Unlock()
}

// forget removes a socket that left (or was refused) from the namespace
// and its rooms, and removes an emptied dynamic namespace.
func (ns *Namespace) forget(s *Socket) {
	ns.mu.Lock()
	if ns.sockets[s.id] == s {
		delete(ns.sockets, s.id)
	}
	if ns.others[s.id] == s {
		delete(ns.others, s.id)
	}
	ns.mu.Unlock()
	ns.adapter.DelAll(s.id)
	if ns.dynamic.Load() {
		ns.srv.removeIfEmpty(ns)
	}
}

// empty reports whether no socket is in the namespace or joining it;
// srv.mu is held.
func (ns *Namespace) emptyLocked() bool {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	return len(ns.sockets) == 0 && len(ns.others) == 0 && ns.pending == 0
}

// Socket returns the local socket with id sid: connected, still in its
// connect handler, or in its disconnect handler.
func (ns *Namespace) Socket(sid string) (*Socket, bool) {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	s, ok := ns.sockets[sid]
	if !ok {
		s, ok = ns.others[sid]
	}
	return s, ok
}

// admitted returns a connected local socket.
func (ns *Namespace) admitted(sid string) (*Socket, bool) {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	s, ok := ns.sockets[sid]
	return s, ok
}

// Count returns the number of sockets connected to the namespace on this
// node (for a parent namespace, to its children).
func (ns *Namespace) Count() int {
	n := 0
	for _, t := range ns.targets() {
		t.mu.RLock()
		n += len(t.sockets)
		t.mu.RUnlock()
	}
	return n
}

// Emit sends an event to every socket of the namespace, on every node.
func (ns *Namespace) Emit(ctx context.Context, event string, args ...any) error {
	return ns.op().Emit(ctx, event, args...)
}

// Send emits the "message" event to every socket of the namespace.
func (ns *Namespace) Send(ctx context.Context, args ...any) error {
	return ns.Emit(ctx, "message", args...)
}

// To selects the sockets in rooms (or with these sids) for a broadcast.
func (ns *Namespace) To(rooms ...string) Operator { return ns.op().To(rooms...) }

// In is To.
func (ns *Namespace) In(rooms ...string) Operator { return ns.op().To(rooms...) }

// Except excludes the sockets in rooms (or with these sids).
func (ns *Namespace) Except(rooms ...string) Operator { return ns.op().Except(rooms...) }

// Local restricts the next operation to this node.
func (ns *Namespace) Local() Operator { return ns.op().Local() }

// Volatile makes the next broadcast skip clients not ready to receive it.
func (ns *Namespace) Volatile() Operator { return ns.op().Volatile() }

// Compress sets whether the next broadcast may be compressed (default
// true, when the connection negotiated compression).
func (ns *Namespace) Compress(on bool) Operator { return ns.op().Compress(on) }

func (ns *Namespace) op() Operator {
	return Operator{ns: ns, opts: adapter.BroadcastOptions{Flags: adapter.Flags{Compress: true}}}
}

// FetchSockets describes every socket of the namespace, on every node.
func (ns *Namespace) FetchSockets(ctx context.Context) ([]adapter.SocketInfo, error) {
	return ns.op().FetchSockets(ctx)
}

// EnterRoom puts the socket sid into room, wherever in the cluster it is
// connected. It works from the socket's connect handler too. An unknown
// sid is a no-op.
func (ns *Namespace) EnterRoom(ctx context.Context, sid, room string) error {
	if s, ok := ns.Socket(sid); ok {
		s.Join(room)
		return nil
	}
	if ns.adapter == nil {
		return ErrParentNamespace
	}
	return ns.adapter.AddSockets(ctx, adapter.BroadcastOptions{Rooms: []string{sid}}, []string{room})
}

// LeaveRoom takes the socket sid out of room, wherever it is connected.
// An unknown sid is a no-op.
func (ns *Namespace) LeaveRoom(ctx context.Context, sid, room string) error {
	if s, ok := ns.Socket(sid); ok {
		s.Leave(room)
		return nil
	}
	if ns.adapter == nil {
		return ErrParentNamespace
	}
	return ns.adapter.DelSockets(ctx, adapter.BroadcastOptions{Rooms: []string{sid}}, []string{room})
}

// CloseRoom takes every socket, on every node, out of room.
func (ns *Namespace) CloseRoom(ctx context.Context, room string) error {
	return ns.op().To(room).SocketsLeave(ctx, room)
}

// Rooms returns the rooms of the local socket sid (its own id included);
// nil for an unknown sid.
func (ns *Namespace) Rooms(sid string) []string {
	s, ok := ns.Socket(sid)
	if !ok {
		return nil
	}
	return s.Rooms()
}

// Disconnect disconnects the socket sid from the namespace, wherever in
// the cluster it is connected. An unknown sid is a no-op.
func (ns *Namespace) Disconnect(ctx context.Context, sid string) error {
	if s, ok := ns.Socket(sid); ok {
		s.Disconnect(false)
		return nil
	}
	return ns.op().To(sid).DisconnectSockets(ctx, false)
}

// ServerSideEmit sends an event to the handlers set with OnServerEvent on
// the other nodes of the cluster (Node's serverSideEmit). It does not wait
// for them.
func (ns *Namespace) ServerSideEmit(ctx context.Context, event string, args ...any) error {
	if ns.adapter == nil {
		return ErrParentNamespace
	}
	_, err := ns.adapter.ServerSideEmit(ctx, event, args, false)
	return err
}

// ServerSideEmitWithAck is ServerSideEmit waiting for every other node's
// answer until ctx is done (or Config.AckTimeout when ctx has no
// deadline). On timeout it returns the answers so far with an error
// wrapping ErrAckTimeout and ctx.Err().
func (ns *Namespace) ServerSideEmitWithAck(ctx context.Context, event string, args ...any) ([]socketio.Args, error) {
	if ns.adapter == nil {
		return nil, ErrParentNamespace
	}
	ctx, cancel := ns.srv.ackContext(ctx)
	defer cancel()
	res, err := ns.adapter.ServerSideEmit(ctx, event, args, true)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", ErrAckTimeout, ctx.Err())
	}
	return res, err
}

// ErrParentNamespace is returned by operations a parent namespace cannot
// carry out itself (it has no adapter; its children do).
var ErrParentNamespace = errors.New("gateway: not supported on a parent namespace; use one of its children")

// ErrUnknownSocket is returned when a sid names no socket of the namespace.
var ErrUnknownSocket = errors.New("gateway: no such socket in this namespace")

// Call emits an event to the socket sid and waits for its
// acknowledgement (see Socket.EmitWithAck). A socket on another node is
// reached through the adapter.
func (ns *Namespace) Call(ctx context.Context, sid, event string, args ...any) (socketio.Args, error) {
	if s, ok := ns.admitted(sid); ok {
		return s.EmitWithAck(ctx, event, args...)
	}
	ctx, cancel := ns.srv.ackContext(ctx)
	defer cancel()
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

// ConnectHandler returns the handler set with OnConnect (nil if none).
func (ns *Namespace) ConnectHandler() ConnectHandler {
	ns.hmu.RLock()
	defer ns.hmu.RUnlock()
	return ns.onConnect
}
