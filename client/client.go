// Package client is a Socket.IO v5 (Engine.IO v4) client: long-polling with
// an upgrade to WebSocket (or WebSocket only, through an HTTP proxy if the
// HTTP client has one), namespaces, events with acknowledgements in both
// directions, binary attachments and automatic reconnection. Client is the
// full, callback-based API: handlers per namespace and event, catch-all
// events and namespaces (CatchAll, CatchAllNamespace), listeners of every
// incoming and outgoing event (OnAny, OnAnyOutgoing), reconnection events
// (OnReconnectAttempt, OnReconnect, OnReconnectError, OnReconnectFailed),
// class-style namespaces (Register), emits buffered while reconnecting,
// acknowledgements awaited (EmitWithAck) or called back
// (EmitWithCallback), the Volatile, Timeout and Retries emit modifiers
// (Emitter), and connection state recovery with servers that have it on,
// as socket.io-client 4.6+ (Namespace.Recovered, Event.Offset).
// SimpleClient is a blocking one for a single namespace.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/siogate/siogate/protocol/engineio"
	"github.com/siogate/siogate/protocol/socketio"
)

// CatchAll is the event name of a handler that receives the events of its
// namespace that have no handler of their own.
const CatchAll = "*"

// CatchAllNamespace, given to Of or Register, names the catch-all
// namespace: its event handlers receive the events of every connected
// namespace that has no handler of its own for them (Event.Namespace says
// which). A handler for event CatchAll on it receives any event of any
// namespace. Lookup order: the namespace's handler for the event, its
// CatchAll handler, the catch-all namespace's handler for the event, its
// CatchAll handler, then the class-style handlers registered with
// Register on the namespace and on the catch-all namespace. The catch-all
// namespace is never connected itself, cannot emit, and its OnConnect,
// OnConnectError and OnDisconnect handlers are never called: connect,
// connect_error and disconnect are not caught by catch-alls and must be
// registered on each namespace.
const CatchAllNamespace = "*"

// Args are the arguments of an event or acknowledgement, kept as raw JSON
// (with binary attachments) and decoded on demand.
type Args = socketio.Args

// Event is one event received from the server.
type Event struct {
	// Namespace the event arrived on.
	Namespace string
	// Name of the event.
	Name string
	// Args are the event's arguments; decode them with Args.Decode.
	Args socketio.Args
	// AckRequested reports whether the server waits for an
	// acknowledgement, which the handler's return values become.
	AckRequested bool
	// Offset is the connection state recovery offset the client took
	// from this event, "" when it took none. With recovery on, the server
	// appends an offset to every event it stores as the event's last
	// argument, and the client remembers the last one to present it when
	// it reconnects. The offset stays in Args, as socket.io-client passes
	// it to listeners as an extra argument: a handler that reads its
	// arguments by position is unaffected, one that takes them all (Values,
	// Items) gets the offset last. The client takes the last argument of
	// every event without an acknowledgement request, on a namespace
	// whose CONNECT answer carried a pid, when it is a string; a server
	// cannot mark its offsets, so an event the server did not store (a
	// volatile one, say) whose last argument is a string is taken for one
	// too, as in socket.io-client, and the next recovery then fails.
	Offset string
}

// EventHandler handles an event. When the server asked for an
// acknowledgement, the returned values (possibly none) are sent back as
// its arguments; []byte values travel as binary attachments.
type EventHandler func(e *Event) []any

// AckCallback receives the arguments of the server's acknowledgement, or
// ErrDisconnected when the connection ended before it arrived.
type AckCallback func(args socketio.Args, err error)

type nsHandlers struct {
	events       map[string]EventHandler
	connect      func()
	connectError func(*ConnectError)
	disconnect   func(DisconnectReason)
	class        *classHandlers // from Register; immutable once set
	anyIn        listeners[AnyHandler]
	anyOut       listeners[OutgoingHandler]
}

// Client is a Socket.IO client. Its methods are safe for concurrent use.
// Handlers run one at a time, in arrival order, on a goroutine of the
// client's own, so a handler may call Emit, EmitWithAck and Disconnect.
type Client struct {
	opts Options
	log  *slog.Logger

	hmu          sync.RWMutex
	handlers     map[string]*nsHandlers
	reconnectFns reconnectFuncs // guarded by hmu

	queue serialQueue

	mu      sync.Mutex
	sess    *session // nil when idle
	last    *session // the previous session, for Wait
	cur     *conn    // the current Engine.IO connection, if any
	acks    map[uint64]*pendingAck
	nextAck uint64
	out     map[string]*nsOut // emits waiting for their namespace, per namespace
}

// session spans Connect to the final disconnect, reconnections included.
type session struct {
	rawURL string
	ns     []string        // guarded by Client.mu once the session is published
	ctx    context.Context // canceled by Shutdown
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	rec    map[string]*recoveryState // per namespace, guarded by Client.mu
}

// pendingAck is an acknowledgement the client waits for. Its fields after
// ch are guarded by Client.mu.
type pendingAck struct {
	ns string
	op string         // for timeout errors
	fn AckCallback    // run on the handler goroutine
	ch chan ackResult // or delivered here directly (EmitWithAck)

	conn     *conn       // the connection it was sent on (nil while buffered)
	id       uint64      // its id in Client.acks, 0 when not registered
	buffered bool        // waiting in nsOut.buf
	settled  bool        // resolved, timed out or abandoned
	timer    *time.Timer // Timeout's timer, or a retry try's
	retryOf  *retryItem  // set on the tries of a Retries emit
}

type ackResult struct {
	args socketio.Args
	err  error
}

// New returns a client configured by opts. Register handlers, then call
// Connect.
func New(opts Options) *Client {
	opts = opts.withDefaults()
	return &Client{
		opts:     opts,
		log:      opts.Logger,
		handlers: map[string]*nsHandlers{},
		acks:     map[uint64]*pendingAck{},
		out:      map[string]*nsOut{},
	}
}

func normNamespace(ns string) string {
	if ns == CatchAllNamespace {
		return ns
	}
	if ns == "" {
		return socketio.MainNamespace
	}
	if !strings.HasPrefix(ns, "/") {
		return "/" + ns
	}
	return ns
}

// Namespace is a view of one namespace of a Client, returned by Of.
type Namespace struct {
	c  *Client
	ns string
}

// Of returns the namespace ns ("" means "/", CatchAllNamespace the
// catch-all namespace) for registering handlers and emitting.
func (c *Client) Of(ns string) *Namespace { return &Namespace{c: c, ns: normNamespace(ns)} }

func (c *Client) handlersOf(ns string) *nsHandlers {
	h := c.handlers[ns]
	if h == nil {
		h = &nsHandlers{events: map[string]EventHandler{}}
		c.handlers[ns] = h
	}
	return h
}

// On registers the handler of event in this namespace, replacing any
// previous one. The event CatchAll ("*") receives events without a
// handler of their own.
func (n *Namespace) On(event string, h EventHandler) {
	n.c.hmu.Lock()
	defer n.c.hmu.Unlock()
	n.c.handlersOf(n.ns).events[event] = h
}

// OnConnect registers the function called each time the namespace is
// connected, reconnections included.
func (n *Namespace) OnConnect(fn func()) {
	n.c.hmu.Lock()
	defer n.c.hmu.Unlock()
	n.c.handlersOf(n.ns).connect = fn
}

// OnConnectError registers the function called when the server refuses
// the namespace.
func (n *Namespace) OnConnectError(fn func(*ConnectError)) {
	n.c.hmu.Lock()
	defer n.c.hmu.Unlock()
	n.c.handlersOf(n.ns).connectError = fn
}

// OnDisconnect registers the function called when the connected namespace
// is disconnected, with the reason.
func (n *Namespace) OnDisconnect(fn func(DisconnectReason)) {
	n.c.hmu.Lock()
	defer n.c.hmu.Unlock()
	n.c.handlersOf(n.ns).disconnect = fn
}

// Emit sends an event to the server without waiting for anything. While
// the session is connecting or reconnecting the event is buffered (see
// Options.DisableBuffering).
func (n *Namespace) Emit(event string, args ...any) error {
	return n.c.emit(n.ns, event, args, nil, emitFlags{})
}

// Send emits the event "message" with args, like python-socketio's
// send.
func (n *Namespace) Send(args ...any) error { return n.Emit("message", args...) }

// EmitWithCallback sends an event and asks the server to acknowledge it;
// cb runs on the handler goroutine with the acknowledgement's arguments,
// or with ErrDisconnected when the connection drops before the
// acknowledgement arrives (the event is not resent; see Retries). The
// event is buffered like Emit's.
func (n *Namespace) EmitWithCallback(cb AckCallback, event string, args ...any) error {
	return n.c.emitWithCallback(n.ns, cb, event, args, emitFlags{})
}

// EmitWithAck sends an event and waits for the server's acknowledgement,
// returning its arguments. It is never buffered: when the namespace is
// not connected it fails at once with ErrNotConnected. When ctx's
// deadline passes first it returns a *TimeoutError; when the connection
// drops first, ErrDisconnected at once (unlike python-socketio's call,
// which waits for its timeout). Handlers may call it: the
// acknowledgement does not wait for the handler goroutine.
func (n *Namespace) EmitWithAck(ctx context.Context, event string, args ...any) (socketio.Args, error) {
	return n.c.emitWithAck(ctx, n.ns, event, args, emitFlags{})
}

// emitWithCallback implements the EmitWithCallback methods.
func (c *Client) emitWithCallback(ns string, cb AckCallback, event string, args []any, f emitFlags) error {
	if cb == nil {
		return errors.New("client: nil ack callback")
	}
	return c.emit(ns, event, args, &pendingAck{fn: cb, op: "ack " + event}, f)
}

// emitWithAck implements the EmitWithAck methods: an emit that is never
// buffered, whose acknowledgement is awaited here.
func (c *Client) emitWithAck(ctx context.Context, ns, event string, args []any, f emitFlags) (socketio.Args, error) {
	op := "ack " + event
	p := &pendingAck{ch: make(chan ackResult, 1), op: op}
	f.noBuffer = true
	if err := c.emit(ns, event, args, p, f); err != nil {
		return socketio.Args{}, err
	}
	select {
	case r := <-p.ch:
		return r.args, r.err
	case <-ctx.Done():
		c.abandon(p)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return socketio.Args{}, &TimeoutError{Op: op}
		}
		return socketio.Args{}, ctx.Err()
	}
}

// Disconnect disconnects this namespace only: it sends DISCONNECT, runs
// the namespace's disconnect handler with ReasonClientDisconnect, fails
// its pending acknowledgements with ErrDisconnected, discards its
// buffered emits and drops it from the session, so that reconnections do
// not connect it again. When it was the session's last namespace the
// whole client disconnects as with Shutdown. It returns ErrNotConnected
// when the namespace is not part of the current session.
func (n *Namespace) Disconnect() error { return n.c.disconnectNamespace(n.ns) }

// SID returns the namespace's session id, or "" when not connected.
func (n *Namespace) SID() string { return n.c.SID(n.ns) }

// On registers an event handler on the main namespace "/".
func (c *Client) On(event string, h EventHandler) { c.Of("/").On(event, h) }

// OnConnect registers the main namespace's connect handler.
func (c *Client) OnConnect(fn func()) { c.Of("/").OnConnect(fn) }

// OnConnectError registers the main namespace's connect error handler.
func (c *Client) OnConnectError(fn func(*ConnectError)) { c.Of("/").OnConnectError(fn) }

// OnDisconnect registers the main namespace's disconnect handler.
func (c *Client) OnDisconnect(fn func(DisconnectReason)) { c.Of("/").OnDisconnect(fn) }

// Emit sends an event on the main namespace.
func (c *Client) Emit(event string, args ...any) error { return c.Of("/").Emit(event, args...) }

// Send emits the event "message" on the main namespace.
func (c *Client) Send(args ...any) error { return c.Of("/").Send(args...) }

// EmitWithCallback sends an event on the main namespace and asks for an
// acknowledgement, which cb receives (see Namespace.EmitWithCallback).
func (c *Client) EmitWithCallback(cb AckCallback, event string, args ...any) error {
	return c.Of("/").EmitWithCallback(cb, event, args...)
}

// EmitWithAck sends an event on the main namespace and waits for its
// acknowledgement (see Namespace.EmitWithAck).
func (c *Client) EmitWithAck(ctx context.Context, event string, args ...any) (socketio.Args, error) {
	return c.Of("/").EmitWithAck(ctx, event, args...)
}

// SID returns the session id of namespace ns ("" means "/"), or "" when
// it is not connected.
func (c *Client) SID(ns string) string {
	ns = normNamespace(ns)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return ""
	}
	if s := c.cur.nss[ns]; s != nil && s.connected {
		return s.sid
	}
	return ""
}

// Transport returns the transport in use, "polling" or "websocket", or ""
// when not connected.
func (c *Client) Transport() string {
	c.mu.Lock()
	cn := c.cur
	c.mu.Unlock()
	if cn == nil {
		return ""
	}
	return cn.eng.transportName()
}

// Connected reports whether at least one namespace is connected.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return false
	}
	for _, s := range c.cur.nss {
		if s.connected {
			return true
		}
	}
	return false
}

// Connect connects to the server at rawURL (http, https, ws or wss; the
// path is ignored in favor of Options.Path, the query is kept; with
// Options.URLFunc the URL comes from it instead) and waits until every
// namespace is connected, at most Options.WaitTimeout (or only until the
// Engine.IO connection is open with Options.DisableWait). A refused
// namespace fails the whole Connect with a *ConnectError. The initial
// connection is retried only with Options.Retry; later losses are (see
// Options).
func (c *Client) Connect(ctx context.Context, rawURL string) error {
	for _, t := range c.opts.Transports {
		if t != engineio.Polling && t != engineio.WebSocket {
			return fmt.Errorf("client: unknown transport %q", t)
		}
	}
	if c.opts.URLFunc == nil {
		if _, err := c.parseURL(rawURL); err != nil {
			return err
		}
	}

	sctx, cancel := context.WithCancel(context.Background())
	s := &session{rawURL: rawURL, ns: c.namespaces(), ctx: sctx, cancel: cancel, done: make(chan struct{})}
	c.mu.Lock()
	if c.sess != nil {
		c.mu.Unlock()
		cancel()
		return ErrAlreadyConnected
	}
	c.sess = s
	c.mu.Unlock()

	actx, acancel := context.WithCancel(ctx)
	defer acancel()
	unwatch := context.AfterFunc(sctx, acancel) // Shutdown aborts Connect
	defer unwatch()
	err := c.attempt(actx, s, !c.opts.DisableWait)
	if err != nil && c.opts.Retry {
		err = c.retryConnect(actx, s, err)
	}
	if err != nil {
		c.endSession(s)
		return err
	}
	return nil
}

// retryConnect makes further attempts after the first one failed with
// err, following the reconnection delays and attempt limit.
func (c *Client) retryConnect(ctx context.Context, s *session, err error) error {
	for n := 1; c.opts.ReconnectionAttempts == 0 || n <= c.opts.ReconnectionAttempts; n++ {
		var ce *ConnectError
		if errors.As(err, &ce) || ctx.Err() != nil || s.ctx.Err() != nil {
			return err
		}
		d := c.backoff(n)
		c.log.Debug("retrying the first connection", "attempt", n, "delay", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		c.fireReconnect(evReconnectAttempt, n, nil)
		if err = c.attempt(ctx, s, !c.opts.DisableWait); err == nil {
			c.fireReconnect(evReconnect, n, nil)
			return nil
		}
		if ctx.Err() != nil || s.ctx.Err() != nil {
			return err
		}
		c.fireReconnect(evReconnectError, n, err)
	}
	var ce *ConnectError
	if !errors.As(err, &ce) { // out of attempts
		c.fireReconnect(evReconnectFailed, 0, nil)
	}
	return err
}

// parseURL checks a server URL and turns it into the Engine.IO endpoint.
func (c *Client) parseURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("client: bad url: %w", err)
	}
	switch u.Scheme {
	case "http", "https":
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("client: unsupported url scheme %q", u.Scheme)
	}
	u.Path = c.opts.Path
	u.RawPath = ""
	u.Fragment = ""
	return u, nil
}

// namespaces lists the namespaces a new session connects.
func (c *Client) namespaces() []string {
	var ns []string
	if len(c.opts.Namespaces) > 0 {
		for _, n := range c.opts.Namespaces {
			if n = normNamespace(n); n != CatchAllNamespace {
				ns = append(ns, n)
			}
		}
	} else {
		c.hmu.RLock()
		for n := range c.handlers {
			if n != CatchAllNamespace {
				ns = append(ns, n)
			}
		}
		c.hmu.RUnlock()
	}
	if len(ns) == 0 {
		ns = []string{socketio.MainNamespace}
	}
	slices.Sort(ns)
	return slices.Compact(ns)
}

func (c *Client) engineConfig(base *url.URL, header http.Header) *engineConfig {
	hc := c.opts.HTTPClient
	tlsConf := c.opts.TLSConfig
	var tr *http.Transport
	if hc == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
		if tlsConf != nil {
			tr.TLSClientConfig = tlsConf.Clone()
		}
		hc = &http.Client{Transport: tr}
	} else {
		switch t := hc.Transport.(type) {
		case *http.Transport:
			tr = t
		case nil:
			tr, _ = http.DefaultTransport.(*http.Transport)
		}
		if tlsConf == nil && tr != nil && tr.TLSClientConfig != nil {
			tlsConf = tr.TLSClientConfig
		}
	}
	cfg := &engineConfig{
		base:           base,
		transports:     c.opts.Transports,
		header:         header,
		httpClient:     hc,
		tlsConfig:      tlsConf,
		requestTimeout: c.opts.RequestTimeout,
		log:            c.opts.Logger,
	}
	if tr != nil {
		cfg.proxy = tr.Proxy
		cfg.proxyConnectHeader = tr.ProxyConnectHeader
	}
	return cfg
}

// encodeAuth encodes one auth value, which must be a JSON object.
func encodeAuth(auth any) ([]byte, error) {
	if auth == nil {
		return nil, nil
	}
	b, err := json.Marshal(auth)
	if err != nil {
		return nil, fmt.Errorf("client: encoding auth: %w", err)
	}
	if len(b) == 0 || b[0] != '{' {
		return nil, errors.New("client: auth must encode as a JSON object")
	}
	return b, nil
}

// connectPackets builds the CONNECT packets of namespaces ns, evaluating
// the auth options afresh, with the recovery session of each namespace in
// rec merged into its auth.
func (c *Client) connectPackets(ns []string, rec map[string]recoveryState) ([]engineio.Packet, error) {
	var common []byte
	if c.opts.NamespaceAuthFunc == nil {
		auth := c.opts.Auth
		if c.opts.AuthFunc != nil {
			auth = c.opts.AuthFunc()
		}
		var err error
		if common, err = encodeAuth(auth); err != nil {
			return nil, err
		}
	}
	pkts := make([]engineio.Packet, 0, len(ns))
	for _, n := range ns {
		data := common
		if c.opts.NamespaceAuthFunc != nil {
			var err error
			if data, err = encodeAuth(c.opts.NamespaceAuthFunc(n)); err != nil {
				return nil, err
			}
		}
		if r, ok := rec[n]; ok {
			var err error
			if data, err = withRecovery(data, r); err != nil {
				return nil, err
			}
		}
		p := socketio.Packet{Type: socketio.Connect, Namespace: n, Data: data}
		var err error
		if pkts, err = c.encodePacket(pkts, &p); err != nil {
			return nil, err
		}
	}
	return pkts, nil
}

// attempt opens one Engine.IO connection and connects the session's
// namespaces on it. With wait false it returns once the connection is
// open, the namespaces connecting in the background.
func (c *Client) attempt(ctx context.Context, s *session, wait bool) error {
	raw := s.rawURL
	if c.opts.URLFunc != nil {
		raw = c.opts.URLFunc()
	}
	u, err := c.parseURL(raw)
	if err != nil {
		return err
	}
	header := c.opts.Headers
	if c.opts.HeadersFunc != nil {
		header = c.opts.HeadersFunc()
	}
	c.mu.Lock()
	ns := slices.Clone(s.ns)
	rec := s.recoveryLocked()
	c.mu.Unlock()
	if len(ns) == 0 {
		return ErrClosed // every namespace was disconnected
	}
	connectPkts, err := c.connectPackets(ns, rec)
	if err != nil {
		return err
	}

	cn := &conn{c: c, sess: s, nss: map[string]*nsState{}, ready: make(chan struct{}), pending: len(ns)}
	cn.dec = c.opts.Parser.NewDecoder(socketio.Limits{})
	cfg := c.engineConfig(u, header)
	cn.eng = newEngineConn(cfg, cn.onMessage, cn.onClose)
	for _, n := range ns {
		cn.nss[n] = &nsState{presented: rec[n].pid}
	}
	c.mu.Lock()
	if s.ctx.Err() != nil {
		c.mu.Unlock()
		return ErrClosed
	}
	c.cur = cn
	c.mu.Unlock()

	if err := cn.eng.open(ctx); err != nil {
		c.mu.Lock()
		if c.cur == cn {
			c.cur = nil
		}
		c.mu.Unlock()
		if c.opts.HTTPClient == nil { // ours: do not leave idle connections behind
			cfg.httpClient.CloseIdleConnections()
		}
		return err
	}
	if !wait {
		// Losses from now on reconnect; refusals drop their namespace.
		c.mu.Lock()
		cn.established = true
		c.mu.Unlock()
		if err := cn.eng.send(connectPkts...); err != nil {
			c.log.Debug("connect packets not sent", "err", err) // onClose reconnects
		}
		c.log.Debug("engine.io connected, namespaces connecting in the background", "url", u.String(), "namespaces", ns)
		return nil
	}
	if err := cn.eng.send(connectPkts...); err != nil {
		return err
	}

	t := time.NewTimer(c.opts.WaitTimeout)
	defer t.Stop()
	select {
	case <-cn.ready:
		c.mu.Lock()
		err = cn.err
		if err == nil {
			cn.established = true
		}
		c.mu.Unlock()
	case <-t.C:
		err = &TimeoutError{Op: "connect"}
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil && s.ctx.Err() != nil {
		err = ErrClosed // Shutdown raced with this attempt
	}
	if err != nil {
		cn.eng.close(ReasonClientDisconnect, err, true)
		return err
	}
	c.log.Debug("socket.io connected", "url", u.String(), "namespaces", ns, "transport", cn.eng.transportName())
	return nil
}

// endSession marks the session over, discarding buffered emits: Wait
// returns after the handlers queued so far have run.
func (c *Client) endSession(s *session) {
	s.once.Do(func() {
		s.cancel()
		c.mu.Lock()
		if c.sess == s {
			c.sess, c.last = nil, s
			for ns := range c.out {
				c.discardLocked(ns, ErrDisconnected)
			}
		}
		c.mu.Unlock()
		c.queue.run(func() { close(s.done) })
	})
}

// Disconnect disconnects every namespace and closes the connection; the
// client does not reconnect. While the client is between reconnection
// attempts it returns ErrNotConnected and the attempts go on; Shutdown
// stops them.
func (c *Client) Disconnect() error {
	c.mu.Lock()
	cn := c.cur
	c.mu.Unlock()
	if cn == nil {
		return ErrNotConnected
	}
	cn.disconnect()
	return nil
}

// Shutdown stops the client for good: it disconnects if connected, stops
// any reconnection in progress and discards buffered emits. It does
// nothing on an idle client. When it returns the connection is closed,
// pending acknowledgements have been failed with ErrDisconnected and the
// disconnect handlers are queued, but they may not have run yet: Shutdown
// does not wait for them, so that a handler may call it. Wait (not from a
// handler) returns once they have run.
func (c *Client) Shutdown() {
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s == nil {
		return
	}
	s.cancel() // before reading cur: an attempt that succeeds later sees it
	c.mu.Lock()
	cn := c.cur
	c.mu.Unlock()
	if cn != nil {
		cn.disconnect()
	}
	c.endSession(s)
}

// Wait blocks until the current (or, when idle, the last) session ends
// and its disconnect handlers have run: after Disconnect or Shutdown, a
// server-side disconnect of every namespace, or when reconnection is off
// or gives up. It returns at once on a client that never connected. Do
// not call it from a handler: it would wait for itself.
func (c *Client) Wait() {
	c.mu.Lock()
	s := c.sess
	if s == nil {
		s = c.last
	}
	c.mu.Unlock()
	if s != nil {
		<-s.done
	}
}

// backoff is the delay before reconnection attempt n (1-based).
func (c *Client) backoff(n int) time.Duration {
	d := c.opts.ReconnectionDelay
	for i := 1; i < n && d < c.opts.ReconnectionDelayMax; i++ {
		d *= 2
	}
	d = min(d, c.opts.ReconnectionDelayMax)
	if f := c.opts.RandomizationFactor; f > 0 {
		d = time.Duration(float64(d) * (1 + f*(2*rand.Float64()-1)))
	}
	return max(d, 0)
}

// reconnect retries until connected, out of attempts, or shut down.
func (c *Client) reconnect(s *session) {
	for n := 1; c.opts.ReconnectionAttempts == 0 || n <= c.opts.ReconnectionAttempts; n++ {
		d := c.backoff(n)
		c.log.Debug("reconnecting", "attempt", n, "delay", d)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			c.endSession(s)
			return
		}
		c.fireReconnect(evReconnectAttempt, n, nil)
		ctx, cancel := context.WithTimeout(s.ctx, c.opts.RequestTimeout+c.opts.WaitTimeout)
		err := c.attempt(ctx, s, true)
		cancel()
		if err == nil {
			c.log.Info("reconnected", "attempt", n)
			c.fireReconnect(evReconnect, n, nil)
			return
		}
		c.log.Debug("reconnection attempt failed", "attempt", n, "err", err)
		if s.ctx.Err() != nil {
			c.endSession(s)
			return
		}
		c.fireReconnect(evReconnectError, n, err)
	}
	c.log.Error("giving up reconnecting", "attempts", c.opts.ReconnectionAttempts)
	c.fireReconnect(evReconnectFailed, 0, nil)
	c.endSession(s)
}

// dispatch runs the handler of one event and sends its acknowledgement.
func (c *Client) dispatch(cn *conn, e *Event, id uint64) {
	for _, fn := range snapshotListeners(c, e.Namespace, anyIn) {
		c.safeCall(func() []any { fn(e); return nil })
	}
	h := c.lookup(e.Namespace, e.Name)
	if h == nil {
		c.log.Debug("no handler for event", "namespace", e.Namespace, "event", e.Name)
		return
	}
	ret := c.safeCall(func() []any { return h(e) })
	if !e.AckRequested {
		return
	}
	p, err := socketio.NewAckWith(c.opts.JSON, e.Namespace, id, ret)
	if err != nil {
		c.log.Error("cannot encode acknowledgement", "event", e.Name, "err", err)
		return
	}
	if err := cn.sendPacket(&p); err != nil {
		c.log.Debug("acknowledgement not sent", "event", e.Name, "err", err)
	}
}

// isReserved reports the event names that catch-all handlers never get.
func isReserved(event string) bool {
	switch event {
	case "connect", "connect_error", "disconnect":
		return true
	}
	return false
}

// lookup finds the handler of event on namespace ns (see
// CatchAllNamespace for the order).
func (c *Client) lookup(ns, event string) EventHandler {
	c.hmu.RLock()
	defer c.hmu.RUnlock()
	own, wild := c.handlers[ns], c.handlers[CatchAllNamespace]
	for _, hs := range []*nsHandlers{own, wild} {
		if hs == nil {
			continue
		}
		if h := hs.events[event]; h != nil {
			return h
		}
		if h := hs.events[CatchAll]; h != nil && !isReserved(event) {
			return h
		}
	}
	for _, hs := range []*nsHandlers{own, wild} {
		if hs != nil && hs.class != nil {
			if h := hs.class.lookup(event); h != nil {
				return h
			}
		}
	}
	return nil
}

// safeCall runs a user function, logging a panic instead of crashing the
// client's goroutine.
func (c *Client) safeCall(fn func() []any) (ret []any) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("handler panicked", "panic", r)
			ret = nil
		}
	}()
	return fn()
}

func (c *Client) runHandler(fn func()) {
	c.queue.run(func() { c.safeCall(func() []any { fn(); return nil }) })
}

// serialQueue runs functions one at a time in order, on a goroutine that
// exists only while there is work.
type serialQueue struct {
	mu      sync.Mutex
	fns     []func()
	running bool
}

func (q *serialQueue) run(fn func()) {
	q.mu.Lock()
	q.fns = append(q.fns, fn)
	if !q.running {
		q.running = true
		go q.loop()
	}
	q.mu.Unlock()
}

func (q *serialQueue) loop() {
	for {
		q.mu.Lock()
		if len(q.fns) == 0 {
			q.running = false
			q.mu.Unlock()
			return
		}
		fn := q.fns[0]
		q.fns[0] = nil
		q.fns = q.fns[1:]
		q.mu.Unlock()
		fn()
	}
}
