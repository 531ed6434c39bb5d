package admin

// Package admin serves the Socket.IO Admin UI (the @socket.io/admin-ui front end,
// also hosted at admin.socket.io), the Go form of python-socketio's
// instrument().
//
// The UI is an ordinary Socket.IO client of one namespace ("/admin" by
// default). What travels on it, as implemented here:
//
// Logging in. The UI sends {"username": ..., "password": ...} in its
// CONNECT payload. When Options.Auth accepts it, the server sends the
// event "session" with a random id, which the UI keeps and sends back as
// {"sessionId": ...} when it reconnects; a known id is accepted without
// the password. A refusal is a CONNECT_ERROR whose message is "invalid
// credentials", the text the UI looks for to show its login form again.
// After too many failures from one connection or one remote address
// (Options.LoginFailures, AddressLoginFailures), logins from there are
// refused for Options.LoginLockout with the message "too many failed
// logins, try again in Ns", their credentials unchecked.
//
// Server to UI, right after login: "config" {supportedFeatures: [...]}
// (the commands it may use, plus AGGREGATED_EVENTS, plus ALL_EVENTS in
// development mode), then in development mode "all_sockets" with every
// socket of this node, and "server_stats". Every ServerStatsInterval:
// "server_stats" {serverId, hostname, pid, uptime (seconds), clientsCount,
// pollingClientsCount, aggregatedEvents: [{timestamp, type, subType,
// count}] (types rawConnection, rawDisconnection, packetsIn, packetsOut,
// bytesIn, bytesOut, per second), namespaces: [{name, socketsCount}]}.
// In development mode, as
// things happen: "socket_connected" (socket, time), "socket_updated"
// {id, nsp, transport} after a transport upgrade, "socket_disconnected"
// (nsp, id, reason, time), "room_joined" and "room_left" (nsp, room, id,
// time), "event_received" (nsp, id, [event, ...args], time). A socket is
// described as {id, clientId, transport, nsp, data, handshake, rooms}.
//
// UI to server (refused when ReadOnly): "emit" (nsp, filter, event,
// ...args), "join" (nsp, room, filter), "leave" (nsp, room, filter),
// "_disconnect" (nsp, close, filter). filter is a room name or a socket id,
// or null for the whole namespace. They act through the namespace's
// adapter, so on every node of a cluster; what is reported is this node's
// view only (each node reports its own sockets under its own serverId).
// When the sender asks for an acknowledgement it gets null on success or
// an error text.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/protocol/socketio"
	"golang.org/x/crypto/bcrypt"
)

// Auth decides whether an admin client may log in, from the CONNECT
// payload it sent ({"username": ..., "password": ...} for the UI).
// Credential, Credentials and AuthFunc implement it.
type Auth interface {
	Authenticate(auth json.RawMessage) bool
}

// Credential is one accepted login. Password is compared in constant
// time; when PasswordHash (a bcrypt hash, as the Node server takes) is
// set, the password is checked against it instead.
type Credential struct {
	Username     string
	Password     string
	PasswordHash string
}

// Authenticate implements Auth.
func (c Credential) Authenticate(auth json.RawMessage) bool {
	user, pass, ok := adminLogin(auth)
	return ok && c.match(user, pass)
}

func (c Credential) match(user, pass string) bool {
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(c.Username)) == 1
	var passOK bool
	if c.PasswordHash != "" {
		passOK = bcrypt.CompareHashAndPassword([]byte(c.PasswordHash), []byte(pass)) == nil
	} else {
		passOK = subtle.ConstantTimeCompare([]byte(pass), []byte(c.Password)) == 1
	}
	return userOK && passOK
}

func (c Credential) validate() error {
	if c.Username == "" {
		return errors.New("admin: admin credential without a username")
	}
	if c.PasswordHash != "" {
		if _, err := bcrypt.Cost([]byte(c.PasswordHash)); err != nil {
			return fmt.Errorf("admin: admin PasswordHash for %q is not a bcrypt hash: %w", c.Username, err)
		}
		return nil
	}
	if c.Password == "" {
		return fmt.Errorf("admin: admin credential %q has no password", c.Username)
	}
	return nil
}

// Credentials accepts a login that matches any of its entries.
type Credentials []Credential

// Authenticate implements Auth.
func (cs Credentials) Authenticate(auth json.RawMessage) bool {
	user, pass, ok := adminLogin(auth)
	if !ok {
		return false
	}
	for _, c := range cs {
		if c.match(user, pass) {
			return true
		}
	}
	return false
}

func (cs Credentials) validate() error {
	if len(cs) == 0 {
		return errors.New("admin: empty Credentials")
	}
	for _, c := range cs {
		if err := c.validate(); err != nil {
			return err
		}
	}
	return nil
}

// AuthFunc is an Auth written as a function of the raw CONNECT
// payload, for logins other than a username and password.
type AuthFunc func(auth json.RawMessage) bool

// Authenticate implements Auth.
func (f AuthFunc) Authenticate(auth json.RawMessage) bool { return f(auth) }

// adminLogin reads the username and password of a CONNECT payload.
func adminLogin(auth json.RawMessage) (user, pass string, ok bool) {
	var a struct {
		Username *string `json:"username"`
		Password *string `json:"password"`
	}
	if json.Unmarshal(auth, &a) != nil || a.Username == nil || a.Password == nil {
		return "", "", false
	}
	return *a.Username, *a.Password, true
}

// Mode is how much the server reports to the admin UI.
type Mode string

// The reporting modes.
const (
	// Development reports every socket, room change and received
	// event as it happens (the default; it costs some work per event).
	Development Mode = "development"
	// Production reports only the periodic server statistics.
	Production Mode = "production"
)

// Options configures Instrument. The zero value is valid but has no
// authentication.
type Options struct {
	// Auth checks logins; nil accepts any client (not for production).
	Auth Auth
	// Mode is Development (default) or Production.
	Mode Mode
	// ReadOnly refuses the commands that change rooms, emit events or
	// disconnect sockets.
	ReadOnly bool
	// ServerID names this node in the UI (default: the host name).
	ServerID string
	// Namespace is the admin namespace (default "/admin").
	Namespace string
	// ServerStatsInterval is the period of "server_stats" (default 2s;
	// values under 100ms are raised to it).
	ServerStatsInterval time.Duration
	// LoginFailures is how many failed logins one Engine.IO connection
	// may make before it is refused for LoginLockout (default 5).
	// Failures older than LoginLockout are forgotten. A refused login
	// gets the CONNECT_ERROR "too many failed logins, try again in Ns"
	// without its credentials being checked; a known session id (see the
	// package comment) is still accepted.
	LoginFailures int
	// AddressLoginFailures is the same limit for all the connections of
	// one remote address (default 20). The address is the request's
	// RemoteAddr: behind a proxy every client shares the proxy's, and a
	// guesser locks them all out for a while.
	AddressLoginFailures int
	// LoginLockout is how long a connection or remote address is refused
	// after too many failed logins (default 1 minute).
	LoginLockout time.Duration
}

// Limits on what an admin client may send.
const (
	adminMaxAuth     = 4 << 10 // CONNECT payload, bytes
	adminMaxName     = 256     // namespace, room, filter and event names
	adminMaxQueue    = 4096    // reports waiting for the admin sockets
	adminMaxSessions = 1024
	adminSessionTTL  = 24 * time.Hour
	adminMaxEcho     = 64 << 10 // largest received event echoed to the UI
)

// Admin is the admin UI instrumentation of one server, from Instrument.
type Admin struct {
	srv      *gateway.Server
	ns       *gateway.Namespace
	opts     Options
	log      *slog.Logger
	hostname string
	started  time.Time
	features []string
	stopObs  func()
	// traffic counts packets and bytes through an engineio.Meter,
	// removed by stopMeter.
	traffic   adminTraffic
	stopMeter func()
	logins    *loginThrottle

	mu       sync.Mutex
	queue    []adminReport
	resync   bool                         // reports were dropped: send all_sockets again
	joins    []*gateway.Socket            // admin sockets that still need the initial state
	authed   map[*gateway.Socket]struct{} // logged-in admin sockets
	conns    map[string]int               // Engine.IO id → sockets, for connection counts
	agg      map[adminAggKey]int
	sessions map[string]time.Time // session id → expiry
	closed   bool

	wake      chan struct{}
	done      chan struct{}
	finished  chan struct{}
	closeOnce sync.Once
}

type adminReport struct {
	event string
	args  []any
	leave *gateway.Socket // an admin socket that went away
	// A socket_connected report: the socket and the transport described.
	joined    *gateway.Socket
	transport string
}

type adminAggKey struct {
	at       int64 // ms, whole seconds
	typ, sub string
}

// Instrument serves the Socket.IO Admin UI on the namespace opts.Namespace.
// Nothing is observed or kept before it is called. The namespace must not
// have a connect handler of its own. Close undoes it.
func Instrument(s *gateway.Server, opts Options) (*Admin, error) {
	if opts.Namespace == "" {
		opts.Namespace = "/admin"
	}
	if !strings.HasPrefix(opts.Namespace, "/") {
		opts.Namespace = "/" + opts.Namespace
	}
	if opts.Namespace == "/" || opts.Namespace == "/*" {
		return nil, fmt.Errorf("admin: admin namespace %q: want a name of its own such as /admin", opts.Namespace)
	}
	switch opts.Mode {
	case "":
		opts.Mode = Development
	case Development, Production:
	default:
		return nil, fmt.Errorf("admin: admin mode %q: want development or production", opts.Mode)
	}
	if opts.ServerStatsInterval < 0 {
		return nil, errors.New("admin: negative ServerStatsInterval")
	}
	if opts.ServerStatsInterval == 0 {
		opts.ServerStatsInterval = 2 * time.Second
	}
	opts.ServerStatsInterval = max(opts.ServerStatsInterval, 100*time.Millisecond)
	if opts.LoginFailures < 0 || opts.AddressLoginFailures < 0 || opts.LoginLockout < 0 {
		return nil, errors.New("admin: negative LoginFailures, AddressLoginFailures or LoginLockout")
	}
	if opts.LoginFailures == 0 {
		opts.LoginFailures = defaultLoginFailures
	}
	if opts.AddressLoginFailures == 0 {
		opts.AddressLoginFailures = defaultAddrLoginFailures
	}
	if opts.LoginLockout == 0 {
		opts.LoginLockout = defaultLoginLockout
	}
	if v, ok := opts.Auth.(interface{ validate() error }); ok {
		if err := v.validate(); err != nil {
			return nil, err
		}
	}
	host, _ := os.Hostname()
	if opts.ServerID == "" {
		opts.ServerID = host
	}
	ns := s.Of(opts.Namespace)
	if ns.ConnectHandler() != nil {
		return nil, fmt.Errorf("admin: namespace %s already has a connect handler", opts.Namespace)
	}
	a := &Admin{
		srv:      s,
		ns:       ns,
		opts:     opts,
		log:      logger(s).With("component", "admin", "nsp", opts.Namespace),
		hostname: host,
		started:  time.Now(),
		logins:   newLoginThrottle(opts.AddressLoginFailures, opts.LoginFailures, opts.LoginLockout),
		authed:   make(map[*gateway.Socket]struct{}),
		conns:    make(map[string]int),
		agg:      make(map[adminAggKey]int),
		sessions: make(map[string]time.Time),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		finished: make(chan struct{}),
	}
	if !opts.ReadOnly {
		a.features = []string{"EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"}
	}
	a.features = append(a.features, "AGGREGATED_EVENTS")
	if opts.Mode == Development {
		a.features = append(a.features, "ALL_EVENTS")
	}
	if opts.Auth == nil {
		a.log.Warn("admin: the admin UI namespace accepts anyone: no authentication configured")
	}
	ns.OnConnect(a.onConnect)
	ns.On("emit", a.command(a.cmdEmit))
	ns.On("join", a.command(a.cmdJoin))
	ns.On("leave", a.command(a.cmdLeave))
	ns.On("_disconnect", a.command(a.cmdDisconnect))
	a.stopObs = s.Observe(adminObserver{a})
	a.stopMeter = s.Engine().AddMeter(adminMeter{&a.traffic})
	go a.run()
	return a, nil
}

// Namespace returns the admin namespace.
func (a *Admin) Namespace() *gateway.Namespace { return a.ns }

// Close stops the instrumentation: the observer is removed, the reporting
// goroutine ends and the admin sockets are disconnected. The namespace
// keeps its handlers, which then refuse every login and command, so it
// cannot be instrumented again.
func (a *Admin) Close() {
	a.closeOnce.Do(func() {
		a.stopObs()
		a.stopMeter()
		a.mu.Lock()
		a.closed = true
		a.mu.Unlock()
		close(a.done)
		<-a.finished
		for _, s := range a.ns.Sockets() {
			s.Disconnect(false)
		}
		a.mu.Lock()
		a.queue, a.joins, a.authed, a.conns, a.agg, a.sessions = nil, nil, nil, nil, nil, nil
		a.mu.Unlock()
	})
}

var errAdminCredentials = &gateway.ConnectError{Message: "invalid credentials"}

// onConnect is the admin namespace's connect handler: it checks the login.
func (a *Admin) onConnect(s *gateway.Socket, auth json.RawMessage) error {
	if len(auth) > adminMaxAuth {
		return errAdminCredentials
	}
	a.mu.Lock()
	closed := a.closed
	a.mu.Unlock()
	if closed {
		return &gateway.ConnectError{Message: "admin UI support is closed"}
	}
	if a.opts.Auth != nil {
		var sess struct {
			SessionID string `json:"sessionId"`
		}
		_ = json.Unmarshal(auth, &sess)
		if !a.validSession(sess.SessionID) {
			remote := s.Request().RemoteAddr
			keys := loginKeys(remote, s.ConnID())
			if wait := a.logins.refused(keys, time.Now()); wait > 0 {
				a.log.Info("admin: admin login throttled", "remote", remote)
				return &gateway.ConnectError{Message: loginRefusal(wait)}
			}
			if !a.opts.Auth.Authenticate(auth) {
				if a.logins.failed(keys, time.Now()) {
					a.log.Warn("admin: too many failed admin logins, refusing for a while", "remote", remote, "for", a.opts.LoginLockout)
				} else {
					a.log.Info("admin: admin login refused", "remote", remote)
				}
				return errAdminCredentials
			}
			a.logins.succeeded(keys)
			id, err := a.newSession()
			if err != nil {
				return err
			}
			_ = s.Emit("session", id)
		}
	}
	if a.srv.Config().AlwaysConnect {
		// The socket was admitted before this handler ran.
		a.mu.Lock()
		if s.Connected() && a.authed != nil {
			a.authed[s] = struct{}{}
			a.joins = append(a.joins, s)
		}
		a.mu.Unlock()
		a.poke()
	}
	return nil
}

func (a *Admin) validSession(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.sessions[id]
	if ok && time.Now().After(exp) {
		delete(a.sessions, id)
		return false
	}
	return ok
}

func (a *Admin) newSession() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(b[:])
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sessions == nil {
		return "", errors.New("admin: admin closed")
	}
	if len(a.sessions) >= adminMaxSessions {
		oldest, oldestExp := "", time.Time{}
		for k, exp := range a.sessions {
			if now.After(exp) {
				delete(a.sessions, k)
				continue
			}
			if oldest == "" || exp.Before(oldestExp) {
				oldest, oldestExp = k, exp
			}
		}
		if len(a.sessions) >= adminMaxSessions {
			delete(a.sessions, oldest)
		}
	}
	a.sessions[id] = now.Add(adminSessionTTL)
	return id, nil
}

// Commands.

var (
	errAdminReadOnly = errors.New("the admin UI is read-only")
	errAdminDenied   = errors.New("not logged in")
)

// command wraps a command handler: the sender must be a logged-in admin
// socket, ReadOnly refuses, and the ack (when asked for) carries null or
// the error text.
func (a *Admin) command(run func(e *gateway.Event) error) gateway.EventHandler {
	return func(s *gateway.Socket, e *gateway.Event) []any {
		a.mu.Lock()
		_, ok := a.authed[s]
		a.mu.Unlock()
		err := errAdminDenied
		switch {
		case !ok:
		case a.opts.ReadOnly:
			err = errAdminReadOnly
		default:
			err = run(e)
		}
		if err != nil {
			a.log.Debug("admin: admin command refused", "event", e.Name, "sid", s.ID(), "err", err)
			return []any{err.Error()}
		}
		return []any{nil}
	}
}

// adminString decodes argument i as a string of at most adminMaxName
// bytes; with optional, a missing or null argument is "".
func adminString(e *gateway.Event, i int, what string, optional bool) (string, error) {
	raw := e.Args.Raw(i)
	if raw == nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		if optional {
			return "", nil
		}
		return "", fmt.Errorf("%s must be a string", what)
	}
	if len(raw) > 2*adminMaxName+2 {
		return "", fmt.Errorf("%s too long", what)
	}
	var v string
	if json.Unmarshal(raw, &v) != nil {
		return "", fmt.Errorf("%s must be a string", what)
	}
	if len(v) > adminMaxName {
		return "", fmt.Errorf("%s too long", what)
	}
	if v == "" && !optional {
		return "", fmt.Errorf("%s is empty", what)
	}
	return v, nil
}

// target reads the namespace (argument 0) and filter (argument fi) of a
// command and returns the selection they name.
func (a *Admin) target(e *gateway.Event, fi int) (gateway.Operator, error) {
	name, err := adminString(e, 0, "namespace", false)
	if err != nil {
		return gateway.Operator{}, err
	}
	ns, ok := a.srv.Namespace(name)
	if !ok {
		return gateway.Operator{}, fmt.Errorf("no namespace %q", name)
	}
	filter, err := adminString(e, fi, "filter", true)
	if err != nil {
		return gateway.Operator{}, err
	}
	op := ns.To()
	if filter != "" {
		op = op.To(filter)
	}
	return op, nil
}

func (a *Admin) cmdEmit(e *gateway.Event) error {
	op, err := a.target(e, 1)
	if err != nil {
		return err
	}
	ev, err := adminString(e, 2, "event name", false)
	if err != nil {
		return err
	}
	return op.Emit(context.Background(), ev, e.Args.Slice(3).Items()...)
}

func (a *Admin) cmdJoin(e *gateway.Event) error {
	return a.roomCommand(e, gateway.Operator.SocketsJoin)
}

func (a *Admin) cmdLeave(e *gateway.Event) error {
	return a.roomCommand(e, gateway.Operator.SocketsLeave)
}

// roomCommand reads [nsp, room, target] and applies a room operation to
// the target sockets.
func (a *Admin) roomCommand(e *gateway.Event, apply func(gateway.Operator, context.Context, ...string) error) error {
	op, err := a.target(e, 2)
	if err != nil {
		return err
	}
	room, err := adminString(e, 1, "room", false)
	if err != nil {
		return err
	}
	return apply(op, context.Background(), room)
}

func (a *Admin) cmdDisconnect(e *gateway.Event) error {
	op, err := a.target(e, 2)
	if err != nil {
		return err
	}
	var closeConn bool
	if raw := e.Args.Raw(1); raw != nil && json.Unmarshal(raw, &closeConn) != nil {
		return errors.New("close must be a boolean")
	}
	return op.DisconnectSockets(context.Background(), closeConn)
}

// Observation. The observer only records; the goroutine started by
// Instrument sends, so nothing the server does waits for an admin socket.

type adminObserver struct{ a *Admin }

func jsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// report queues a report for the admin sockets, dropping it when the queue
// is full (the admins then get all_sockets again).
func (a *Admin) report(r adminReport) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	if len(a.queue) >= adminMaxQueue {
		a.resync = true
	} else {
		a.queue = append(a.queue, r)
	}
	a.mu.Unlock()
	a.poke()
}

func (a *Admin) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *Admin) verbose() bool { return a.opts.Mode == Development }

// countLocked adds one to an aggregated statistic of the current second;
// a.mu is held.
func (a *Admin) countLocked(typ, sub string) {
	if a.agg == nil {
		return
	}
	now := time.Now().UnixMilli()
	a.agg[adminAggKey{at: now - now%1000, typ: typ, sub: sub}]++
}

func (o adminObserver) SocketConnected(s *gateway.Socket) {
	a := o.a
	a.mu.Lock()
	if a.conns != nil {
		id := s.ConnID()
		if a.conns[id] == 0 {
			a.countLocked("rawConnection", "")
		}
		a.conns[id]++
	}
	if s.Namespace() == a.ns && !a.srv.Config().AlwaysConnect && a.authed != nil {
		// The connect handler accepted it before it was admitted.
		a.authed[s] = struct{}{}
		a.joins = append(a.joins, s)
	}
	a.mu.Unlock()
	if a.verbose() {
		d := a.describe(s)
		a.report(adminReport{event: "socket_connected", args: []any{d, jsTime(time.Now())}, joined: s, transport: d.Transport})
	} else {
		a.poke()
	}
}

func (o adminObserver) SocketDisconnected(s *gateway.Socket, reason gateway.DisconnectReason) {
	a := o.a
	var left *gateway.Socket
	a.mu.Lock()
	if a.conns != nil {
		id := s.ConnID()
		if a.conns[id]--; a.conns[id] <= 0 {
			delete(a.conns, id)
			a.countLocked("rawDisconnection", string(reason))
		}
	}
	if s.Namespace() == a.ns {
		delete(a.authed, s)
		left = s
	}
	a.mu.Unlock()
	r := adminReport{leave: left}
	if a.verbose() {
		r.event = "socket_disconnected"
		r.args = []any{s.Namespace().Name(), s.ID(), string(reason), jsTime(time.Now())}
	}
	if r.event != "" || r.leave != nil {
		a.report(r)
	}
}

func (o adminObserver) RoomJoined(nsp, room, sid string) {
	if o.a.verbose() {
		o.a.report(adminReport{event: "room_joined", args: []any{nsp, room, sid, jsTime(time.Now())}})
	}
}

func (o adminObserver) RoomLeft(nsp, room, sid string) {
	if o.a.verbose() {
		o.a.report(adminReport{event: "room_left", args: []any{nsp, room, sid, jsTime(time.Now())}})
	}
}

func (o adminObserver) EventReceived(s *gateway.Socket, event string, args socketio.Args) {
	a := o.a
	if s.Namespace() == a.ns || !a.verbose() {
		return
	}
	a.report(adminReport{event: "event_received", args: []any{s.Namespace().Name(), s.ID(), adminEcho(event, args), jsTime(time.Now())}})
}

// adminEcho copies a received event into values the reporting goroutine
// can send later: [event, ...args], or a note when it is too large.
func adminEcho(event string, args socketio.Args) []any {
	size := 0
	for i := range args.Len() {
		size += len(args.Raw(i))
	}
	for _, a := range args.Attachments() {
		size += len(a)
	}
	if size > adminMaxEcho {
		return []any{event, fmt.Sprintf("(%d bytes of arguments not shown)", size)}
	}
	out := make([]any, 0, 1+args.Len())
	out = append(out, event)
	for i := range args.Len() {
		raw := args.Raw(i)
		if len(args.Attachments()) == 0 {
			out = append(out, json.RawMessage(bytes.Clone(raw)))
			continue
		}
		// Binary arguments: attachments become base64 strings.
		var v any
		if args.Decode(i, &v) != nil {
			out = append(out, nil)
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			out = append(out, nil)
			continue
		}
		out = append(out, json.RawMessage(b))
	}
	return out
}

// Socket descriptions.

type adminSocket struct {
	ID        string          `json:"id"`
	ClientID  string          `json:"clientId"`
	Transport string          `json:"transport"`
	Nsp       string          `json:"nsp"`
	Data      json.RawMessage `json:"data"`
	Handshake adminHandshake  `json:"handshake"`
	Rooms     []string        `json:"rooms"`
}

type adminHandshake struct {
	Address string            `json:"address"`
	Headers map[string]string `json:"headers"`
	Query   map[string]string `json:"query"`
	Issued  int64             `json:"issued"`
	Secure  bool              `json:"secure"`
	Time    string            `json:"time"`
	URL     string            `json:"url"`
	XDomain bool              `json:"xdomain"`
}

// describe makes the UI's description of a socket. The CONNECT payload
// (which may hold credentials) is left out.
func (a *Admin) describe(s *gateway.Socket) adminSocket {
	r := s.Request()
	headers := make(map[string]string, len(r.Header))
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	query := map[string]string{}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			query[k] = v[0]
		}
	}
	addr := r.RemoteAddr
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	for _, h := range [...]string{"Cf-Connecting-Ip", "X-Forwarded-For"} {
		if v := r.Header.Get(h); v != "" {
			addr = v
			break
		}
	}
	data := json.RawMessage("{}")
	if d := s.Data(); d != nil {
		if b, err := json.Marshal(d); err == nil {
			data = b
		}
	}
	clientID := s.ConnID()
	if len(clientID) > 12 {
		clientID = clientID[:12]
	}
	rooms := s.Rooms()
	if rooms == nil {
		rooms = []string{}
	}
	return adminSocket{
		ID:        s.ID(),
		ClientID:  clientID,
		Transport: s.Transport(),
		Nsp:       s.Namespace().Name(),
		Data:      data,
		Handshake: adminHandshake{
			Address: addr,
			Headers: headers,
			Query:   query,
			Issued:  s.HandshakeTime().UnixMilli(),
			Secure:  r.TLS != nil,
			Time:    s.HandshakeTime().UTC().Format("Mon Jan 02 2006 15:04:05 GMT+0000 (Coordinated Universal Time)"),
			URL:     r.URL.RequestURI(),
			XDomain: r.Header.Get("Origin") != "",
		},
		Rooms: rooms,
	}
}

func (a *Admin) allSockets() []adminSocket {
	out := []adminSocket{}
	for _, ns := range a.srv.Namespaces() {
		for _, s := range ns.Sockets() {
			out = append(out, a.describe(s))
		}
	}
	return out
}

// The reporting goroutine.

type adminStats struct {
	ServerID            string         `json:"serverId"`
	Hostname            string         `json:"hostname"`
	Pid                 int            `json:"pid"`
	Uptime              float64        `json:"uptime"`
	ClientsCount        int            `json:"clientsCount"`
	PollingClientsCount int            `json:"pollingClientsCount"`
	AggregatedEvents    []adminAgg     `json:"aggregatedEvents"`
	Namespaces          []adminNsStats `json:"namespaces"`
}

type adminAgg struct {
	Timestamp int64  `json:"timestamp"`
	Type      string `json:"type"`
	SubType   string `json:"subType,omitempty"`
	Count     int    `json:"count"`
}

type adminNsStats struct {
	Name         string `json:"name"`
	SocketsCount int    `json:"socketsCount"`
}

// adminLoop is the goroutine's own state.
type adminLoop struct {
	admins     map[*gateway.Socket]struct{}
	transports map[*gateway.Socket]string // as last reported, to notice upgrades
}

func (a *Admin) run() {
	defer close(a.finished)
	l := &adminLoop{admins: make(map[*gateway.Socket]struct{}), transports: make(map[*gateway.Socket]string)}
	tick := time.NewTicker(a.opts.ServerStatsInterval)
	defer tick.Stop()
	for {
		select {
		case <-a.done:
			return
		case <-a.wake:
			a.drain(l)
		case <-tick.C:
			a.drain(l)
			a.tick(l)
		}
	}
}

// send emits to every admin socket, forgetting those that are gone.
func (a *Admin) send(l *adminLoop, event string, args ...any) {
	for s := range l.admins {
		if err := s.Emit(event, args...); errors.Is(err, gateway.ErrDisconnected) {
			delete(l.admins, s)
		} else if err != nil {
			a.log.Debug("admin: admin report not sent", "event", event, "err", err)
		}
	}
}

func (a *Admin) drain(l *adminLoop) {
	a.mu.Lock()
	queue, joins, resync := a.queue, a.joins, a.resync
	a.queue, a.joins, a.resync = nil, nil, false
	a.mu.Unlock()
	for _, r := range queue {
		if r.leave != nil {
			delete(l.admins, r.leave)
		}
		if r.joined != nil && len(l.admins) > 0 {
			l.transports[r.joined] = r.transport
		}
		if r.event != "" {
			a.send(l, r.event, r.args...)
		}
	}
	if resync && a.verbose() {
		a.log.Warn("admin: admin reports dropped, resending the socket list")
		a.send(l, "all_sockets", a.allSockets())
	}
	for _, s := range joins {
		if _, dup := l.admins[s]; dup || !a.isAuthed(s) {
			continue
		}
		l.admins[s] = struct{}{}
		_ = s.Emit("config", map[string]any{"supportedFeatures": a.features})
		if a.verbose() {
			_ = s.Emit("all_sockets", a.allSockets())
		}
		_ = s.Emit("server_stats", a.stats(false))
	}
}

func (a *Admin) isAuthed(s *gateway.Socket) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.authed[s]
	return ok
}

// stats describes the node; with take it also hands over (and clears) the
// aggregated events counted since the last time.
func (a *Admin) stats(take bool) adminStats {
	st := adminStats{
		ServerID:     a.opts.ServerID,
		Hostname:     a.hostname,
		Pid:          os.Getpid(),
		Uptime:       time.Since(a.started).Seconds(),
		ClientsCount: a.srv.Engine().Count(),
	}
	polling := map[string]struct{}{}
	for _, ns := range a.srv.Namespaces() {
		socks := ns.Sockets()
		st.Namespaces = append(st.Namespaces, adminNsStats{Name: ns.Name(), SocketsCount: len(socks)})
		for _, s := range socks {
			if s.Transport() == "polling" {
				polling[s.ConnID()] = struct{}{}
			}
		}
	}
	st.PollingClientsCount = len(polling)
	st.AggregatedEvents = []adminAgg{}
	if take {
		a.mu.Lock()
		a.takeTrafficLocked()
		for k, n := range a.agg {
			st.AggregatedEvents = append(st.AggregatedEvents, adminAgg{Timestamp: k.at, Type: k.typ, SubType: k.sub, Count: n})
		}
		clear(a.agg)
		a.mu.Unlock()
	}
	return st
}

// tick sends the periodic statistics and reports transport upgrades.
func (a *Admin) tick(l *adminLoop) {
	if len(l.admins) == 0 {
		a.mu.Lock()
		clear(a.agg)
		a.mu.Unlock()
		clear(l.transports)
		return
	}
	if a.verbose() {
		seen := make(map[*gateway.Socket]string, len(l.transports))
		for _, ns := range a.srv.Namespaces() {
			for _, s := range ns.Sockets() {
				tr := s.Transport()
				if old, ok := l.transports[s]; ok && old != tr {
					a.send(l, "socket_updated", map[string]any{"id": s.ID(), "nsp": ns.Name(), "transport": tr})
				}
				seen[s] = tr
			}
		}
		l.transports = seen
	}
	a.send(l, "server_stats", a.stats(true))
}

// logger returns the server's logger.
func logger(s *gateway.Server) *slog.Logger { return s.Config().Logger }
