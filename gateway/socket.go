package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/gateway/engineio"
	"github.com/siogate/siogate/protocol/socketio"
)

// Event is one event received from a client.
type Event struct {
	// Name is the event name.
	Name string
	// Args are the event's arguments, decoded on demand.
	Args socketio.Args

	socket *Socket
	inline bool // the handler runs on the connection's reader goroutine
	hasID  bool
	id     uint64
	acked  bool
	later  bool // AckLater: the handler's result is not the answer
	mu     sync.Mutex
}

// AckRequested reports whether the client asked for an acknowledgement.
func (e *Event) AckRequested() bool { return e.hasID }

// Ack answers the client's acknowledgement request now, with args. Only the
// first answer is sent; without a request it does nothing.
func (e *Event) Ack(args ...any) error {
	e.mu.Lock()
	if !e.hasID || e.acked {
		e.mu.Unlock()
		return nil
	}
	e.acked = true
	inline := e.inline
	e.mu.Unlock()
	p, err := socketio.NewAckWith(e.socket.ns.srv.cfg.JSON, e.socket.ns.name, e.id, args)
	if err != nil {
		return err
	}
	if inline {
		return e.socket.sendInline(&p)
	}
	return e.socket.send(&p)
}

// AckCallback receives a client's acknowledgement, or err when none can
// come (ErrDisconnected) or it came too late (ErrAckTimeout).
type AckCallback func(args socketio.Args, err error)

// Errors about acknowledgements.
var (
	// ErrDisconnected: the socket left before answering.
	ErrDisconnected = errors.New("gateway: socket disconnected")
	// ErrAckTimeout: the client did not answer in time.
	ErrAckTimeout = errors.New("gateway: acknowledgement timed out")
)

// Socket is one client's connection to one namespace. Its methods are safe
// for concurrent use.
type Socket struct {
	id   string
	ns   *Namespace
	conn *conn
	auth json.RawMessage
	at   time.Time

	mu      sync.Mutex
	pending []pendingFrame // emitted before the CONNECT answer went out
	ready   bool           // the CONNECT answer and what preceded it are queued
	// open mirrors ready for the broadcast path, which reads it without
	// the lock.
	open atomic.Bool
	// admitted: the CONNECT answer is on its way; the socket is in its
	// namespace for the disconnect handler and Connected.
	admitted bool
	gone     bool
	// leaving: Disconnect(false) was called before the CONNECT answer went
	// out; admit carries it out right after the answer.
	leaving bool
	// leavingClose: that Disconnect asked to close the connection too.
	leavingClose bool
	nextID       uint64
	acks         map[uint64]AckCallback
	data         any
	session      map[string]any
	// middlewares run on every event (Use).
	middlewares []EventMiddleware
	events      bucket    // Limits.EventsPerSecond; the connection's reader only
	floodTold   time.Time // when the client was last told it floods

	// Connection state recovery (see RecoveryConfig).
	pid        string // private session id ("" with recovery off)
	owner      string // this connection's claim on the session in the store
	baseOffset string // newest stored offset when the socket connected
	recovered  bool
	recovering bool                   // registered early: held frames carry offsets
	replay     []adapter.StoredPacket // missed events, sent before the CONNECT answer
	// replayed are the offsets replayed on recovery, dropped when they
	// also arrive live, until replayedUntil; dedupe says there are some.
	replayed      map[string]struct{}
	replayedUntil time.Time
	resumeFrom    string // the offset the client came back with
	dedupe        atomic.Bool
	smu           sync.Mutex // serializes UpdateSession
}

func newSocket(ns *Namespace, c *conn, auth json.RawMessage) *Socket {
	return &Socket{id: newSocketID(), ns: ns, conn: c, auth: auth, at: time.Now()}
}

// ID returns the socket id (distinct from the connection's Engine.IO id).
func (s *Socket) ID() string { return s.id }

// Namespace returns the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.ns }

// Request returns the HTTP request that opened the connection.
func (s *Socket) Request() *http.Request { return s.conn.ss.Request() }

// Auth returns the client's CONNECT payload ("{}" when none).
func (s *Socket) Auth() json.RawMessage { return s.auth }

// HandshakeTime returns when the client asked to join the namespace.
func (s *Socket) HandshakeTime() time.Time { return s.at }

// Transport returns "polling" or "websocket".
func (s *Socket) Transport() string { return s.conn.ss.Transport() }

// ConnID returns the Engine.IO session id of the connection.
func (s *Socket) ConnID() string { return s.conn.ss.ID() }

// SetData attaches an application value to the socket (shown by
// FetchSockets).
func (s *Socket) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
	s.ns.srv.keep.touch(s)
}

// Data returns the value set with SetData.
func (s *Socket) Data() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// Connected reports whether the socket is in its namespace.
func (s *Socket) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.admitted && !s.gone
}

// Info describes the socket.
func (s *Socket) Info() adapter.SocketInfo {
	r := s.Request()
	return adapter.SocketInfo{
		ID:        s.id,
		Namespace: s.ns.name,
		Rooms:     s.Rooms(),
		Data:      s.Data(),
		Handshake: adapter.Handshake{
			Headers: r.Header,
			Time:    s.at,
			Address: r.RemoteAddr,
			Secure:  r.TLS != nil,
			URL:     r.URL.RequestURI(),
			Query:   queryOf(r.URL),
			Auth:    s.auth,
		},
	}
}

// send queues one packet for this client. Before the CONNECT answer has
// gone out, packets wait so that the client sees them after it.
func (s *Socket) send(p *socketio.Packet) error {
	f, all, err := s.ns.srv.encode(p)
	if err != nil {
		return err
	}
	return s.sendEncoded(f, all)
}

// sendEncoded is send after encoding.
func (s *Socket) sendEncoded(f engineio.Frame, all []engineio.Frame) error {
	s.mu.Lock()
	if s.gone {
		s.mu.Unlock()
		return ErrDisconnected
	}
	if !s.ready {
		s.holdLocked(f, all, "")
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	if all == nil {
		return s.conn.ss.Send(f)
	}
	return s.conn.ss.Send(all...)
}

// pendingFrame is a frame held until the CONNECT answer has gone out,
// with the recovery offset of its event when the socket is recovering.
type pendingFrame struct {
	f      engineio.Frame
	offset string
}

// holdLocked keeps frames until the CONNECT answer. s.mu is held.
func (s *Socket) holdLocked(f engineio.Frame, all []engineio.Frame, offset string) {
	if all == nil {
		s.pending = append(s.pending, pendingFrame{f, offset})
		return
	}
	for _, x := range all {
		s.pending = append(s.pending, pendingFrame{x, offset})
	}
}

// deliver queues a broadcast's frames, encoded once for every recipient.
// Before the CONNECT answer has gone out they are held, as send does.
func (s *Socket) deliver(p *socketio.Packet, f engineio.Frame, all []engineio.Frame, flags adapter.Flags) error {
	if s.dedupe.Load() && p != nil && s.replayedAlready(p) {
		return nil
	}
	if !s.open.Load() {
		s.mu.Lock()
		if !s.ready {
			defer s.mu.Unlock()
			if s.gone {
				return ErrDisconnected
			}
			if !flags.Volatile {
				off := ""
				if s.recovering && p != nil {
					off = lastOffset(p.Data)
				}
				s.holdLocked(f, all, off)
			}
			return nil
		}
		s.mu.Unlock()
	}
	switch {
	case flags.Volatile && all == nil:
		return s.conn.ss.SendVolatile(f)
	case flags.Volatile:
		return s.conn.ss.SendVolatile(all...)
	case all == nil:
		return s.conn.ss.Send(f)
	default:
		return s.conn.ss.Send(all...)
	}
}

// sendInline is send for a packet produced on the connection's reader
// goroutine (an ack from a handler running there): it is written right
// away when nothing else waits.
func (s *Socket) sendInline(p *socketio.Packet) error {
	s.mu.Lock()
	ready := s.ready && !s.gone
	s.mu.Unlock()
	if !ready {
		return s.send(p)
	}
	f, all, err := s.ns.srv.encode(p)
	if err != nil {
		return err
	}
	if all == nil {
		return s.conn.ss.SendInline(f)
	}
	return s.conn.ss.SendInline(all...)
}

// connectPacing separates the CONNECT answer from the frames the connect
// handler emitted (see Socket.connected).
const connectPacing = 300 * time.Microsecond

// connected sends the CONNECT answer then anything emitted meanwhile.
func (s *Socket) connected(ack *socketio.Packet) {
	f, _, encErr := s.ns.srv.encode(ack) // a CONNECT is one message
	if encErr != nil {
		s.ns.srv.log.Error("gateway: cannot encode the CONNECT answer", "err", encErr)
		s.conn.ss.Close()
		return
	}
	// Admitted before the client can see the answer: a disconnect from
	// then on runs the disconnect handler.
	s.mu.Lock()
	s.admitted = true
	waiting := len(s.pending) > 0
	// A recovered socket gets the events it missed first, as Node's
	// server sends them: the client holds them until the answer.
	replay, replayed := s.replayFrames()
	var err error
	if len(replay) > 0 {
		err = s.conn.ss.Send(replay...)
	}
	if err == nil {
		err = s.conn.ss.Send(f)
	}
	s.mu.Unlock()
	if waiting && err == nil {
		// What the connect handler emitted follows the CONNECT answer in a
		// write of its own, as Node's server paces them: clients that
		// dispatch frames synchronously from one read and listen with
		// one-shot handlers (the official protocol test suite does) would
		// otherwise miss the second frame. Only connects whose handler
		// emitted pay this short pause.
		s.conn.ss.Drained(5 * time.Millisecond)
		time.Sleep(connectPacing)
	}
	s.mu.Lock()
	frames := make([]engineio.Frame, 0, len(s.pending))
	for _, pf := range s.pending {
		if _, dup := replayed[pf.offset]; dup && pf.offset != "" {
			delete(replayed, pf.offset)
			continue // replayed already
		}
		frames = append(frames, pf.f)
	}
	s.pending = nil
	s.ready = true
	if s.recovered {
		// An event stored before the replay was read may still be on its
		// way to this socket (stored, not yet broadcast), and one the
		// client had may come late from this node's broker: drop them
		// when they come, for a while.
		s.replayed = replayed
		s.replayedUntil = time.Now().Add(replayDedupe)
		s.dedupe.Store(true)
	}
	// A failed Send means the session is closing: the socket is already
	// registered on its connection, whose close reports it with the real
	// reason (a shutdown, a ping timeout...), so errors are not handled
	// here.
	if err == nil && len(frames) > 0 {
		_ = s.conn.ss.Send(frames...)
	}
	// Only now may broadcasts skip the lock: none overtakes the held
	// frames.
	s.open.Store(true)
	s.mu.Unlock()
}

// ErrReserved is returned when emitting an event name that Socket.IO
// clients reserve for their own lifecycle.
var ErrReserved = errors.New("gateway: reserved event name")

// reservedEvents cannot be emitted to clients, and are ignored when a
// client sends them: they are lifecycle events on the JavaScript side.
var reservedEvents = [...]string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}

func isReserved(event string) bool {
	for _, r := range reservedEvents {
		if r == event {
			return true
		}
	}
	return false
}

// Emit sends an event to this client.
func (s *Socket) Emit(event string, args ...any) error {
	return SocketEmitter{s: s}.Emit(event, args...)
}

// Send emits the "message" event.
func (s *Socket) Send(args ...any) error { return s.Emit("message", args...) }

// EmitWithCallback sends an event asking the client for an
// acknowledgement, which cb receives: with ErrDisconnected if the socket
// leaves first, with ErrAckTimeout after Config.AckTimeout (or the time
// given to Timeout).
func (s *Socket) EmitWithCallback(cb AckCallback, event string, args ...any) error {
	return SocketEmitter{s: s}.EmitWithCallback(cb, event, args...)
}

// EmitWithAck sends an event and waits for the client's acknowledgement,
// until ctx is done or, when ctx has no deadline, Config.AckTimeout. A
// timeout is an error wrapping ErrAckTimeout and ctx.Err().
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) (socketio.Args, error) {
	return SocketEmitter{s: s}.EmitWithAck(ctx, event, args...)
}

// Volatile returns an emitter whose events are dropped when the client is
// not ready to receive them now (Node's socket.volatile).
func (s *Socket) Volatile() SocketEmitter { return SocketEmitter{s: s, volatile: true} }

// Timeout returns an emitter whose acknowledgements are awaited at most d
// (Node's socket.timeout).
func (s *Socket) Timeout(d time.Duration) SocketEmitter { return SocketEmitter{s: s, timeout: d} }

// Compress returns an emitter whose events may be compressed or not, on a
// connection that negotiated compression (default true).
func (s *Socket) Compress(on bool) SocketEmitter { return SocketEmitter{s: s, noCompress: !on} }

// SocketEmitter sends events to one socket with per-emit options. Its
// methods return modified copies; the zero options are those of
// Socket.Emit.
type SocketEmitter struct {
	s          *Socket
	volatile   bool
	noCompress bool
	timeout    time.Duration
}

// Volatile drops the events when the client is not ready for them now.
func (e SocketEmitter) Volatile() SocketEmitter { e.volatile = true; return e }

// Timeout bounds the wait for acknowledgements to d.
func (e SocketEmitter) Timeout(d time.Duration) SocketEmitter { e.timeout = d; return e }

// Compress sets whether the events may be compressed.
func (e SocketEmitter) Compress(on bool) SocketEmitter { e.noCompress = !on; return e }

func (e SocketEmitter) flags() adapter.Flags {
	return adapter.Flags{Volatile: e.volatile, Compress: !e.noCompress}
}

// Emit sends an event to the client.
func (e SocketEmitter) Emit(event string, args ...any) error {
	p, err := e.s.ns.srv.newEvent(e.s.ns.name, event, args)
	if err != nil {
		return err
	}
	flags := e.flags()
	e.s.ns.store(context.Background(), &p, []string{e.s.id}, nil, flags)
	return e.s.sendFlags(&p, flags)
}

// Send emits the "message" event.
func (e SocketEmitter) Send(args ...any) error { return e.Emit("message", args...) }

// EmitWithCallback sends an event asking for an acknowledgement, which cb
// receives (or ErrDisconnected, or ErrAckTimeout after the timeout:
// Timeout's, else Config.AckTimeout).
func (e SocketEmitter) EmitWithCallback(cb AckCallback, event string, args ...any) error {
	p, err := e.s.ns.srv.newEvent(e.s.ns.name, event, args)
	if err != nil {
		return err
	}
	d := e.timeout
	if d <= 0 {
		d = e.s.ns.srv.cfg.AckTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	err = e.s.sendWithAck(ctx, &p, e.flags(), func(a socketio.Args, err error) {
		cancel()
		cb(a, err)
	})
	if err != nil {
		cancel()
	}
	return err
}

// EmitWithAck sends an event and waits for the acknowledgement until ctx
// is done, the timeout passes (Timeout's, else Config.AckTimeout when ctx
// has no deadline) or the socket leaves.
func (e SocketEmitter) EmitWithAck(ctx context.Context, event string, args ...any) (socketio.Args, error) {
	p, err := e.s.ns.srv.newEvent(e.s.ns.name, event, args)
	if err != nil {
		return socketio.Args{}, err
	}
	var cancel context.CancelFunc
	if e.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, e.timeout)
	} else {
		ctx, cancel = e.s.ns.srv.ackContext(ctx)
	}
	defer cancel()
	type result struct {
		args socketio.Args
		err  error
	}
	ch := make(chan result, 1)
	if err := e.s.sendWithAck(ctx, &p, e.flags(), func(a socketio.Args, err error) { ch <- result{a, err} }); err != nil {
		return socketio.Args{}, err
	}
	select {
	case r := <-ch:
		return r.args, r.err
	case <-ctx.Done():
		return socketio.Args{}, fmt.Errorf("%w: %w", ErrAckTimeout, ctx.Err())
	}
}

// sendFlags is send honouring per-emit flags.
func (s *Socket) sendFlags(p *socketio.Packet, flags adapter.Flags) error {
	if !flags.Volatile && flags.Compress {
		return s.send(p)
	}
	f, all, err := s.ns.srv.encode(p)
	if err != nil {
		return err
	}
	if !flags.Compress {
		f.NoCompress = true
		for i := range all {
			all[i].NoCompress = true
		}
	}
	if !flags.Volatile {
		return s.sendEncoded(f, all)
	}
	s.mu.Lock()
	ready := s.ready && !s.gone
	s.mu.Unlock()
	if !ready {
		return nil // not ready now: a volatile event is dropped
	}
	return s.deliver(p, f, all, flags)
}

// sendWithAck assigns p an ack id of this socket and registers cb. When
// ctx ends first, the entry is dropped and cb gets ErrAckTimeout.
func (s *Socket) sendWithAck(ctx context.Context, p *socketio.Packet, flags adapter.Flags, cb AckCallback) error {
	s.mu.Lock()
	if s.gone {
		s.mu.Unlock()
		return ErrDisconnected
	}
	if lim := s.ns.srv.cfg.Limits.PendingAcks; lim > 0 && len(s.acks) >= lim {
		s.mu.Unlock()
		s.ns.srv.limitHit(LimitPendingAcks, "nsp", s.ns.name, "sid", s.id, "limit", lim)
		return ErrTooManyPendingAcks
	}
	id := s.nextID
	s.nextID++
	if s.acks == nil {
		s.acks = make(map[uint64]AckCallback)
	}
	s.acks[id] = cb
	s.mu.Unlock()
	p.HasID, p.ID = true, id
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() {
			if cb := s.takeAck(id); cb != nil {
				cb(socketio.Args{}, fmt.Errorf("%w: %w", ErrAckTimeout, ctx.Err()))
			}
		})
		s.mu.Lock()
		inner := s.acks[id]
		if inner != nil {
			s.acks[id] = func(a socketio.Args, err error) { stop(); inner(a, err) }
		}
		s.mu.Unlock()
	}
	if err := s.sendFlags(p, flags); err != nil {
		s.takeAck(id)
		return err
	}
	return nil
}

func (s *Socket) takeAck(id uint64) AckCallback {
	s.mu.Lock()
	defer s.mu.Unlock()
	cb := s.acks[id]
	delete(s.acks, id)
	return cb
}

func (s *Socket) onAck(p *socketio.Packet) {
	cb := s.takeAck(p.ID)
	if cb == nil {
		return // unknown or late ack: ignored
	}
	args, err := socketio.ParseArgs(p.Data, p.Attachments)
	cb(args.WithJSON(s.ns.srv.cfg.JSON), err)
}

func (s *Socket) onEvent(p *socketio.Packet) {
	name, args, err := socketio.EventName(p)
	if err != nil {
		s.conn.fail(err)
		return
	}
	args = args.WithJSON(s.ns.srv.cfg.JSON)
	if isReserved(name) {
		s.ns.srv.log.Debug("gateway: ignoring a reserved event name from the client", "event", name, "sid", s.id)
		return
	}
	if log := s.ns.srv.log; log.Enabled(context.Background(), slog.LevelDebug) {
		log.Debug("gateway: event received", "nsp", s.ns.name, "sid", s.id, "event", name, "args", args.Len(), "ack", p.HasID)
	}
	s.ns.srv.obs.each(func(o Observer) { o.EventReceived(s, name, args) })
	e := &Event{Name: name, Args: args, socket: s, hasID: p.HasID, id: p.ID, inline: !s.ns.srv.cfg.AsyncHandlers}
	if err := s.runMiddlewares(e); err != nil {
		s.rejectEvent(e, err)
		return
	}
	h := s.ns.eventHandler(e.Name)
	if h == nil {
		// No handler: no acknowledgement either, as Node's and python's
		// servers do; the client's callback times out.
		return
	}
	var res []any
	if r := s.ns.srv.meter.Load(); r != nil {
		start := r.since()
		res = s.runHandler(h, e)
		r.m.HandlerDone(s, e.Name, r.since()-start)
	} else {
		res = s.runHandler(h, e)
	}
	if e.hasID && !e.answersLater() {
		_ = e.Ack(res...)
	}
}

// EventMiddleware runs for every event a socket receives, in the order
// added with Socket.Use, before its handler (Node's socket.use). It may
// change e.Args. An error rejects the event: the handler does not run, and
// the client is told with an error object {"message": ..., "data": ...}
// (an *EventError's fields, or the error's text): as the answer to its
// acknowledgement request when it made one, otherwise as an "error" event.
type EventMiddleware func(s *Socket, e *Event) error

// EventError rejects an event from an EventMiddleware with a message and
// data for the client.
type EventError struct {
	Message string
	Data    any
}

// Error returns the message.
func (e *EventError) Error() string { return e.Message }

// Use adds event middlewares to the socket.
func (s *Socket) Use(mw ...EventMiddleware) {
	s.mu.Lock()
	s.middlewares = append(s.middlewares, mw...)
	s.mu.Unlock()
}

func (s *Socket) runMiddlewares(e *Event) (err error) {
	s.mu.Lock()
	mws := s.middlewares
	s.mu.Unlock()
	if len(mws) == 0 {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			s.ns.srv.log.Error("gateway: event middleware panicked", "nsp", s.ns.name, "event", e.Name, "panic", r)
			err = errors.New("event rejected")
		}
	}()
	for _, mw := range mws {
		if err := mw(s, e); err != nil {
			return err
		}
	}
	return nil
}

// rejectEvent tells the client a middleware refused its event.
func (s *Socket) rejectEvent(e *Event, err error) {
	body := map[string]any{"message": err.Error()}
	var ee *EventError
	if errors.As(err, &ee) && ee.Data != nil {
		body["data"] = ee.Data
	}
	s.ns.srv.log.Debug("gateway: event rejected by a middleware", "nsp", s.ns.name, "sid", s.id, "event", e.Name, "err", err)
	if e.hasID {
		_ = e.Ack(body)
		return
	}
	p, perr := socketio.NewEventWith(s.ns.srv.cfg.JSON, s.ns.name, "error", []any{body})
	if perr == nil {
		_ = s.send(&p)
	}
}

func (s *Socket) runHandler(h EventHandler, e *Event) (res []any) {
	defer func() {
		if r := recover(); r != nil {
			s.ns.srv.log.Error("gateway: event handler panicked", "nsp", s.ns.name, "event", e.Name, "panic", r)
			res = nil
		}
	}()
	return h(s, e)
}

// Join puts the socket into rooms. Past Limits.RoomsPerSocket it joins
// none of them and returns ErrTooManyRooms.
func (s *Socket) Join(rooms ...string) error {
	if lim := s.ns.srv.cfg.Limits.RoomsPerSocket; lim > 0 && len(rooms) > 0 {
		if n := len(s.ns.adapter.Rooms(s.id)); n+len(rooms) > lim {
			s.ns.srv.limitHit(LimitRoomsPerSocket, "nsp", s.ns.name, "sid", s.id, "limit", lim)
			return ErrTooManyRooms
		}
	}
	s.ns.adapter.AddAll(s.id, rooms...)
	return nil
}

// Leave takes the socket out of a room.
func (s *Socket) Leave(room string) { s.ns.adapter.Del(s.id, room) }

// Rooms returns the socket's rooms, its own id included.
func (s *Socket) Rooms() []string { return s.ns.adapter.Rooms(s.id) }

// To selects other sockets (this one excluded) in rooms for a broadcast.
func (s *Socket) To(rooms ...string) Operator { return s.Broadcast().To(rooms...) }

// Broadcast selects every other socket of the namespace.
func (s *Socket) Broadcast() Operator { return s.ns.op().Except(s.id) }

// Disconnect makes the socket leave its namespace, telling the client.
// With close it also closes the whole connection. Called before the
// CONNECT answer has gone out (from the connect handler, say), it takes
// effect right after the answer, so the client sees both in order.
func (s *Socket) Disconnect(close bool) {
	s.mu.Lock()
	if !s.ready && !s.gone {
		// The CONNECT answer has not gone out yet (Disconnect from the
		// connect handler, or from elsewhere right after it): the client
		// must see the answer first, then this DISCONNECT, and the socket
		// must not be admitted after it was removed.
		s.leaving = true
		s.leavingClose = s.leavingClose || close
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	if close {
		s.conn.disconnectAll()
		return
	}
	_ = s.send(&socketio.Packet{Type: socketio.Disconnect, Namespace: s.ns.name})
	s.onDisconnect(ReasonServerNamespaceDisconnect)
}

// leaveIfAsked carries out a Disconnect(false) that came before the
// CONNECT answer went out.
func (s *Socket) leaveIfAsked() {
	s.mu.Lock()
	leaving := s.leaving && s.ready
	closeToo := s.leavingClose
	s.leaving, s.leavingClose = false, false
	s.mu.Unlock()
	if leaving {
		s.Disconnect(closeToo)
	}
}

// onDisconnect removes the socket once and runs the disconnecting and
// disconnect handlers. Broadcasts stop reaching it at once; its rooms, and
// finding it by id, last until the handlers return.
func (s *Socket) onDisconnect(reason DisconnectReason) {
	s.mu.Lock()
	if s.gone {
		s.mu.Unlock()
		return
	}
	wasReady := s.admitted
	s.gone = true
	acks := s.acks
	s.acks = nil
	s.pending = nil
	s.mu.Unlock()
	s.conn.remove(s)
	s.ns.retire(s)
	for _, cb := range acks {
		cb(socketio.Args{}, ErrDisconnected)
	}
	if !wasReady {
		s.ns.forget(s)
		return
	}
	s.ns.srv.log.Debug("gateway: socket disconnected", "nsp", s.ns.name, "sid", s.id, "reason", string(reason))
	disconnecting, disconnect := s.ns.disconnectHandlers()
	s.runDisconnectHandler(disconnecting, reason)
	s.runDisconnectHandler(disconnect, reason)
	switch {
	case s.pid == "":
	case recoverable(reason):
		s.persist() // what the handlers changed is kept too
	case s.ns.srv.keep != nil:
		s.forgetSession() // saved while connected: gone for good now
	}
	// As Node: the rooms are left, then the socket is reported gone.
	s.ns.forget(s)
	s.ns.srv.obs.each(func(o Observer) { o.SocketDisconnected(s, reason) })
}

func (s *Socket) runDisconnectHandler(h DisconnectHandler, reason DisconnectReason) {
	if h == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			s.ns.srv.log.Error("gateway: disconnect handler panicked", "nsp", s.ns.name, "panic", r)
		}
	}()
	h(s, reason)
}

func newSocketID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Args are an event's or an acknowledgement's arguments (an alias of
// socketio.Args, so handlers need not import the codec package).
type Args = socketio.Args
