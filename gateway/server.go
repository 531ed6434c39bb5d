// Package gateway is a Socket.IO v5 server over Engine.IO v4: namespaces,
// sockets, rooms, acknowledgements and broadcasts, delivered through an
// adapter so that several gateway nodes can form a cluster.
//
//	srv := gateway.NewServer(gateway.Config{})
//	srv.Of("/").OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
//		return s.Emit("hello", "world")
//	})
//	srv.Of("/").On("chat", func(s *gateway.Socket, e *gateway.Event) []any {
//		srv.To("lobby").Emit(context.TODO(), "chat", e.Args)
//		return nil
//	})
//	http.ListenAndServe(":3000", srv)
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/gateway/engineio"
	"github.com/siogate/siogate/gateway/internal/ratelog"
	"github.com/siogate/siogate/protocol/socketio"
)

// Config holds the Socket.IO options. The zero value gives the documented
// defaults.
type Config struct {
	// Engine holds the Engine.IO options (ping, payload size, transports,
	// CORS, compression, cookie).
	Engine engineio.Config
	// Path is the URL path the server answers on (default "/socket.io/").
	Path string
	// Namespaces lists namespaces accepted besides those created with Of;
	// "/" is always accepted. "*" accepts any namespace.
	Namespaces []string
	// KeepEmptyChildNamespaces keeps the namespaces created for clients
	// (under a parent namespace, "*" or Namespaces) once their last socket
	// leaves. By default they are removed, with their adapter, so that
	// clients cannot make the server grow without bound.
	KeepEmptyChildNamespaces bool
	// Recovery configures connection state recovery (off by default).
	Recovery RecoveryConfig
	// Limits bound what one client can make the server hold (see Limits).
	Limits Limits
	// AlwaysConnect accepts a namespace connection before its connect
	// handler runs; a refusal then disconnects the socket. By default the
	// connection is accepted only once the handler returns nil.
	AlwaysConnect bool
	// ConnectTimeout closes a connection that has joined no namespace
	// within this time (default 45s).
	ConnectTimeout time.Duration
	// AsyncHandlers runs each event handler in its own goroutine, so the
	// events of one client are handled concurrently. By default handlers
	// run in order on the connection's reader, which is cheaper but means a
	// handler must not block waiting for the same client (use a goroutine
	// for a Call from inside a handler).
	AsyncHandlers bool
	// Adapter creates each namespace's adapter (default adapter.NewMemory).
	Adapter adapter.Factory
	// Logger receives Socket.IO logs (python's logger). nil discards them.
	Logger *slog.Logger
	// AckTimeout bounds the wait for an acknowledgement when no other
	// bound is given: EmitWithAck and Call with a context that has no
	// deadline, EmitWithCallback without Timeout (default 60s).
	AckTimeout time.Duration
	// StaticFiles serves files for paths outside Path (python's
	// static_files); see StaticFiles.
	StaticFiles StaticFiles
	// StaticFS, when set, is where the StaticFiles rules' file names are
	// looked up (an embed.FS, os.DirFS, ...), with io/fs's path rules:
	// slash-separated, relative, no "..". Nil means the disk, relative to
	// the working directory.
	StaticFS fs.FS
	// Handler serves requests outside Path that no static rule matches
	// (default 404).
	Handler http.Handler
	// Parser is the Socket.IO serializer, which clients must share
	// (socket.io's parser option): default socketio.JSONParser{JSON: JSON};
	// msgpackparser.Parser speaks socket.io-msgpack-parser, and any
	// socketio.Parser plugs in a custom packet codec.
	Parser socketio.Parser
	// JSON marshals the application values of emits and acknowledgements
	// and decodes event arguments (python-socketio's json option), with
	// every parser. Default encoding/json.
	JSON socketio.JSONCodec
}

func (c Config) withDefaults() Config {
	if c.Path == "" {
		c.Path = "/socket.io/"
	}
	if !strings.HasSuffix(c.Path, "/") {
		c.Path += "/"
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 45 * time.Second
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 60 * time.Second
	}
	if c.Adapter == nil {
		c.Adapter = adapter.NewMemory
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Parser = socketio.ParserOrDefault(c.Parser, c.JSON)
	c.Recovery = c.Recovery.withDefaults()
	c.Limits = c.Limits.withDefaults()
	return c
}

// Server is a Socket.IO server. It is an http.Handler: requests under
// Config.Path speak Socket.IO, others go to Config.Handler.
type Server struct {
	cfg    Config
	engine *engineio.Server
	log    *slog.Logger

	mu       sync.RWMutex
	nsps     map[string]*Namespace
	catchAll *Namespace // Of("*"), handlers for namespaces with none
	parents  []*Namespace
	closed   bool
	obs      observerList

	textJSON bool // the parser is the default JSON one: encodeFrames applies
	// keep saves live sessions in a shared recovery store (nil otherwise).
	keep *keeper

	draining atomic.Bool
	meter    atomic.Pointer[meterRef]
	limits   ratelog.Limiter[Limit] // refusals logged
	gate     handshakeGate
	dynamics int // namespaces created for clients, alive; guarded by mu
	// workerReply receives worker replies (OnWorkerReply).
	workerReply atomic.Pointer[WorkerReplyFunc]
}

// ErrServerClosed is returned by operations after Shutdown.
var ErrServerClosed = errors.New("gateway: server closed")

// NewServer returns a server with cfg. The main namespace "/" exists from
// the start.
func NewServer(cfg Config) *Server {
	s := &Server{cfg: cfg.withDefaults(), nsps: make(map[string]*Namespace)}
	s.log = s.cfg.Logger
	_, s.textJSON = s.cfg.Parser.(socketio.JSONParser)
	s.engine = engineio.NewServer(s.cfg.Engine, engineEvents{s})
	if sh, ok := s.cfg.Recovery.Store.(adapter.SharedStore); ok && s.cfg.Recovery.Enabled && sh.SharedAcrossNodes() {
		s.keep = newKeeper(s)
	}
	s.Of(socketio.MainNamespace)
	return s
}

// Engine returns the underlying Engine.IO server.
func (s *Server) Engine() *engineio.Server { return s.engine }

// ServeHTTP routes a request: the Socket.IO path first, then the static
// file rules, then Config.Handler, else 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, s.cfg.Path) || r.URL.Path+"/" == s.cfg.Path {
		if s.admitHandshake(w, r) {
			s.engine.ServeHTTP(w, r)
		}
		return
	}
	if s.serveStatic(w, r) {
		return
	}
	if s.cfg.Handler != nil {
		s.cfg.Handler.ServeHTTP(w, r)
		return
	}
	http.NotFound(w, r)
}

// Of returns the namespace called name, creating it. Of("*") returns the
// catch-all namespace: its handlers serve every namespace that has none of
// its own, and any namespace is then accepted.
func (s *Server) Of(name string) *Namespace {
	name = cleanNamespace(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == "*" {
		if s.catchAll == nil {
			s.catchAll = &Namespace{srv: s, name: "*", handlers: make(map[string]EventHandler)}
		}
		return s.catchAll
	}
	if ns := s.nsps[name]; ns != nil {
		if ns.dynamic.Swap(false) { // named by the application: kept
			s.dynamics--
		}
		return ns
	}
	ns := newNamespace(s, name)
	s.nsps[name] = ns
	return ns
}

func cleanNamespace(name string) string {
	if name == "" {
		return socketio.MainNamespace
	}
	if name != "*" && !strings.HasPrefix(name, "/") {
		return "/" + name
	}
	return name
}

// OfFunc returns a parent namespace: every namespace a client asks for
// that match accepts (given the name and the CONNECT payload) is created
// as its child, with the parent's middlewares run before its own and the
// parent's handlers serving it (Node's io.of(function)). Emitting on the
// parent reaches every child. Children that empty are removed unless
// Config.KeepEmptyChildNamespaces is set. Namespaces created with Of take
// precedence; parents are tried in the order they were created.
func (s *Server) OfFunc(match func(name string, auth json.RawMessage) bool) *Namespace {
	ns := &Namespace{srv: s, name: fmt.Sprintf("parent#%d", len(s.parentsSnapshot())+1), match: match,
		handlers: make(map[string]EventHandler), sockets: make(map[string]*Socket), children: make(map[*Namespace]struct{})}
	s.mu.Lock()
	s.parents = append(s.parents, ns)
	s.mu.Unlock()
	return ns
}

// OfRegexp is OfFunc matching child names against re (Node's
// io.of(/regexp/)).
func (s *Server) OfRegexp(re *regexp.Regexp) *Namespace {
	return s.OfFunc(func(name string, _ json.RawMessage) bool { return re.MatchString(name) })
}

func (s *Server) parentsSnapshot() []*Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.parents)
}

// Use adds connect middlewares to the main namespace (Node's io.use).
func (s *Server) Use(mw ...Middleware) { s.Of(socketio.MainNamespace).Use(mw...) }

// lookup returns the namespace a client may connect to, creating it when a
// parent, the catch-all namespace or the configuration accepts it. The
// namespace counts the connect as pending until connectStarted.
func (s *Server) lookup(name string, auth json.RawMessage) *Namespace {
	s.mu.Lock()
	ns := s.nsps[name]
	if ns != nil {
		ns.pending++
		s.mu.Unlock()
		return ns
	}
	parents := slices.Clone(s.parents)
	anyOK := s.catchAll != nil
	s.mu.Unlock()
	var parent *Namespace
	for _, p := range parents {
		if p.match(name, auth) {
			parent = p
			break
		}
	}
	if parent == nil && !anyOK {
		for _, n := range s.cfg.Namespaces {
			if n == "*" || n == name {
				anyOK = true
				break
			}
		}
	}
	if parent == nil && !anyOK {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if ns = s.nsps[name]; ns == nil {
		if lim := s.cfg.Limits.DynamicNamespaces; lim > 0 && s.dynamics >= lim {
			s.limitHit(LimitDynamicNamespaces, "nsp", name, "limit", lim)
			return nil
		}
		s.dynamics++
		ns = newNamespace(s, name)
		ns.parent = parent
		ns.dynamic.Store(!s.cfg.KeepEmptyChildNamespaces)
		s.nsps[name] = ns
		if parent != nil {
			parent.hmu.Lock()
			parent.children[ns] = struct{}{}
			parent.hmu.Unlock()
		}
	}
	ns.pending++
	return ns
}

// connectStarted ends the pending count lookup took: the socket is now
// registered in ns.
func (s *Server) connectStarted(ns *Namespace) {
	s.mu.Lock()
	ns.pending--
	s.mu.Unlock()
}

// connectAbandoned is connectStarted for a lookup that led to no socket.
func (s *Server) connectAbandoned(ns *Namespace) {
	s.connectStarted(ns)
	if ns.dynamic.Load() {
		s.removeIfEmpty(ns)
	}
}

// removeIfEmpty removes a dynamic namespace with no socket left, and
// closes its adapter.
func (s *Server) removeIfEmpty(ns *Namespace) {
	s.mu.Lock()
	if !ns.dynamic.Load() || s.nsps[ns.name] != ns || !ns.emptyLocked() {
		s.mu.Unlock()
		return
	}
	delete(s.nsps, ns.name)
	s.dynamics--
	s.mu.Unlock()
	if p := ns.parent; p != nil && p.children != nil {
		p.hmu.Lock()
		delete(p.children, ns)
		p.hmu.Unlock()
	}
	_ = ns.adapter.Close()
	s.log.Debug("gateway: removed an empty dynamic namespace", "nsp", ns.name)
}

// namespace returns an existing namespace.
func (s *Server) namespace(name string) (*Namespace, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ns, ok := s.nsps[name]
	return ns, ok
}

// Emit sends an event to every socket of the main namespace, on every
// node.
func (s *Server) Emit(ctx context.Context, event string, args ...any) error {
	return s.Of(socketio.MainNamespace).Emit(ctx, event, args...)
}

// Send emits the "message" event to every socket of the main namespace.
func (s *Server) Send(ctx context.Context, args ...any) error {
	return s.Emit(ctx, "message", args...)
}

// To selects the sockets of the main namespace in rooms (or with these
// sids) for a broadcast.
func (s *Server) To(rooms ...string) Operator { return s.Of(socketio.MainNamespace).To(rooms...) }

// Except excludes sockets of the main namespace in rooms from a broadcast.
func (s *Server) Except(rooms ...string) Operator {
	return s.Of(socketio.MainNamespace).Except(rooms...)
}

// ServerSideEmit sends an event to the main namespace's server-side
// handlers on the other nodes (see Namespace.ServerSideEmit).
func (s *Server) ServerSideEmit(ctx context.Context, event string, args ...any) error {
	return s.Of(socketio.MainNamespace).ServerSideEmit(ctx, event, args...)
}

// ackContext bounds ctx by Config.AckTimeout when it has no deadline.
func (s *Server) ackContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.cfg.AckTimeout)
}

// Shutdown disconnects every client (reason ReasonServerShutdown), closes
// the adapters and waits for the disconnect handlers until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	nsps := make([]*Namespace, 0, len(s.nsps))
	for _, ns := range s.nsps {
		nsps = append(nsps, ns)
	}
	s.mu.Unlock()
	err := s.engine.Shutdown(ctx)
	if s.keep != nil {
		s.keep.close()
	}
	for _, ns := range nsps {
		_ = ns.adapter.Close()
	}
	return err
}

// encode turns a packet into Engine.IO frames with the configured parser:
// the first frame, and when there are several, all of them in the second
// result. The frames may be queued on many sessions.
func (s *Server) encode(p *socketio.Packet) (engineio.Frame, []engineio.Frame, error) {
	if s.textJSON {
		f, all := encodeFrames(p)
		return f, all, nil
	}
	msgs, err := s.cfg.Parser.Encode(p)
	if err != nil {
		return engineio.Frame{}, nil, err
	}
	if len(msgs) == 0 {
		return engineio.Frame{}, nil, errors.New("gateway: the parser encoded a packet as no message")
	}
	frames := make([]engineio.Frame, len(msgs))
	for i, m := range msgs {
		if m.Binary {
			frames[i] = engineio.Frame{Data: m.Data, Binary: true}
		} else {
			frames[i] = engineio.MessageFrame(m.Data)
		}
	}
	if len(frames) == 1 {
		return frames[0], nil, nil
	}
	return frames[0], frames, nil
}

// newEvent builds an event packet with the configured JSON codec, refusing
// reserved names.
func (s *Server) newEvent(nsp, event string, args []any) (socketio.Packet, error) {
	if isReserved(event) {
		return socketio.Packet{}, fmt.Errorf("%w: %q", ErrReserved, event)
	}
	return socketio.NewEventWith(s.cfg.JSON, nsp, event, args)
}

// engineEvents connects engine sessions to Socket.IO clients.
type engineEvents struct{ srv *Server }

func (e engineEvents) OnOpen(ss *engineio.Session) {
	c := newConn(e.srv, ss)
	ss.SetValue(c)
}

func (e engineEvents) OnMessage(ss *engineio.Session, data []byte, binary bool) {
	if c, ok := ss.Value().(*conn); ok {
		c.onMessage(data, binary)
	}
}

func (e engineEvents) OnClose(ss *engineio.Session, reason engineio.Reason) {
	if c, ok := ss.Value().(*conn); ok {
		c.onClose(reasonFromEngine(reason))
	}
}

// Config returns the server's configuration with defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Namespace returns the namespace called name if it exists, without
// creating it.
func (s *Server) Namespace(name string) (*Namespace, bool) { return s.namespace(cleanNamespace(name)) }
