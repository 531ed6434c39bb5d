// Package gateway is a Socket.IO v5 server over Engine.IO v4: namespaces,
// sockets, rooms, acknowledgements and broadcasts, delivered through an
// adapter so that several gateway nodes can form a cluster.
//
//	srv := gateway.NewServer(gateway.Config{})
//	srv.Of("/").OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
//		return s.Emit("hello", "world")
//	})
//	srv.Of("/").On("chat", func(s *gateway.Socket, e *gateway.Event) []any {
//		srv.To("lobby").Emit("chat", e.Args)
//		return nil
//	})
//	http.ListenAndServe(":3000", srv)
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/gateway/engineio"
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
	// AckTimeout is the default timeout of Call when its context has no
	// deadline (default 60s).
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
	closed   bool
	obs      observerList

	textJSON bool // the parser is the default JSON one: encodeFrames applies
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
	s.Of(socketio.MainNamespace)
	return s
}

// Engine returns the underlying Engine.IO server.
func (s *Server) Engine() *engineio.Server { return s.engine }

// ServeHTTP routes a request: the Socket.IO path first, then the static
// file rules, then Config.Handler, else 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, s.cfg.Path) || r.URL.Path+"/" == s.cfg.Path {
		s.engine.ServeHTTP(w, r)
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
	if name == "" {
		name = socketio.MainNamespace
	}
	if name != "*" && !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == "*" {
		if s.catchAll == nil {
			s.catchAll = &Namespace{srv: s, name: "*", handlers: make(map[string]EventHandler)}
		}
		return s.catchAll
	}
	if ns := s.nsps[name]; ns != nil {
		return ns
	}
	ns := newNamespace(s, name)
	s.nsps[name] = ns
	return ns
}

// lookup returns the namespace a client may connect to, creating it when
// the configuration accepts any.
func (s *Server) lookup(name string) *Namespace {
	s.mu.RLock()
	ns := s.nsps[name]
	anyOK := s.catchAll != nil
	s.mu.RUnlock()
	if ns != nil {
		return ns
	}
	if !anyOK {
		for _, n := range s.cfg.Namespaces {
			if n == "*" || n == name {
				anyOK = true
				break
			}
		}
	}
	if anyOK {
		return s.Of(name)
	}
	return nil
}

// namespace returns an existing namespace.
func (s *Server) namespace(name string) (*Namespace, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ns, ok := s.nsps[name]
	return ns, ok
}

// Emit sends an event to every socket of the main namespace.
func (s *Server) Emit(event string, args ...any) error {
	return s.Of(socketio.MainNamespace).Emit(event, args...)
}

// Send emits the "message" event to every socket of the main namespace.
func (s *Server) Send(args ...any) error { return s.Emit("message", args...) }

// To selects the sockets of the main namespace in rooms (or with these
// sids) for a broadcast.
func (s *Server) To(rooms ...string) Operator { return s.Of(socketio.MainNamespace).To(rooms...) }

// Except excludes sockets of the main namespace in rooms from a broadcast.
func (s *Server) Except(rooms ...string) Operator {
	return s.Of(socketio.MainNamespace).Except(rooms...)
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
