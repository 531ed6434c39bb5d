package client

// Connection state recovery against servers that have it on: an
// in-process siogate gateway and Node's socket.io (the reference server
// with SIOGATE_RECOVERY=1), reached through a TCP proxy whose network the
// tests take down and up again while the server emits numbered events.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/engineio"
)

// netSwitch is a TCP proxy to target whose network can be taken down:
// down cuts every connection and refuses new ones until up.
type netSwitch struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	isDown bool
}

func newNetSwitch(t *testing.T, target string) *netSwitch {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &netSwitch{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.down()
	})
	return p
}

func (p *netSwitch) url() string { return "http://" + p.ln.Addr().String() }

func (p *netSwitch) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

// track registers the connections of one proxied stream, or reports false
// when the network is down.
func (p *netSwitch) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.isDown {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *netSwitch) pipe(down net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = down.Close()
		return
	}
	closeBoth := func() { _ = up.Close(); _ = down.Close() }
	if !p.track(down, up) {
		closeBoth()
		return
	}
	go func() { _, _ = io.Copy(up, down); closeBoth() }()
	_, _ = io.Copy(down, up)
	closeBoth()
	p.mu.Lock()
	delete(p.conns, down)
	delete(p.conns, up)
	p.mu.Unlock()
}

// down cuts every connection and refuses new ones; it returns how many
// streams it cut.
func (p *netSwitch) down() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isDown = true
	n := len(p.conns) / 2
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
	return n
}

// up lets connections through again.
func (p *netSwitch) up() {
	p.mu.Lock()
	p.isDown = false
	p.mu.Unlock()
}

// tickLog records the numbered "tick" events a client handles. Each tick
// must carry its recovery offset as its last argument.
type tickLog struct {
	mu      sync.Mutex
	got     []int
	marks   map[int]string // connection events, by the number of ticks before them
	bad     []string
	changed chan struct{}
}

// mark records a connection event between ticks, for the diagnostics.
func (l *tickLog) mark(what string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.marks == nil {
		l.marks = map[int]string{}
	}
	l.marks[len(l.got)] += what
	return len(l.got)
}

func newTickLog() *tickLog { return &tickLog{changed: make(chan struct{}, 1)} }

func (l *tickLog) handler(e *Event) []any {
	var n int
	err := e.Args.Decode(0, &n)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil || e.Args.Len() != 2 || e.Offset == "" || e.Args.String(1) != e.Offset {
		l.bad = append(l.bad, fmt.Sprintf("tick %s with %d args, offset %q (%v)", e.Args.Raw(0), e.Args.Len(), e.Offset, err))
	}
	l.got = append(l.got, n)
	select {
	case l.changed <- struct{}{}:
	default:
	}
	return nil
}

func (l *tickLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.got)
}

// waitLen waits until at least n ticks were handled.
func (l *tickLog) waitLen(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for l.len() < n {
		select {
		case <-l.changed:
		case <-timeout:
			t.Fatalf("%d ticks handled within 15s, want %d", l.len(), n)
		}
	}
}

// check verifies that ticks 1 to total were each handled once, in order.
func (l *tickLog) check(t *testing.T, total int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.bad {
		t.Error(b)
	}
	want := make([]int, total)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(l.got, want) {
		var dup, gaps int
		var where []string
		for i := 1; i < len(l.got); i++ {
			d := l.got[i] - l.got[i-1]
			switch {
			case d <= 0:
				dup++
			case d > 1:
				gaps++
			}
			if d != 1 && len(where) < 5 {
				var b strings.Builder
				for j := max(i-4, 0); j < min(i+4, len(l.got)); j++ {
					fmt.Fprintf(&b, "%s%d ", l.marks[j], l.got[j])
				}
				where = append(where, b.String())
			}
		}
		t.Fatalf("handled %d ticks for %d emitted: %d out of order or repeated, %d gaps, around %v", len(l.got), total, dup, gaps, where)
	}
}

// connectInfo is what a client's connect handler saw.
type connectInfo struct {
	sid       string
	recovered bool
	ticks     int // ticks handled before the connect handler ran
}

// tickClient is a client that records its "tick" events and its
// connections.
type tickClient struct {
	*Client
	ticks       *tickLog
	connects    <-chan connectInfo // each connect of "/"
	disconnects <-chan int         // the ticks handled before each disconnect
}

// connectTickClient connects a tickClient configured by
// fastReconnect(opts) to url; setup, if not nil, registers more handlers
// first.
func connectTickClient(t *testing.T, url string, opts Options, setup func(*Client)) *tickClient {
	t.Helper()
	c := New(fastReconnect(opts))
	shutdown(t, c)
	ticks := newTickLog()
	c.On("tick", ticks.handler)
	connects := make(chan connectInfo, 16)
	disconnects := make(chan int, 16)
	c.OnConnect(func() {
		r := c.Recovered()
		connects <- connectInfo{sid: c.SID("/"), recovered: r, ticks: ticks.mark(fmt.Sprintf("[connect recovered=%v] ", r))}
	})
	c.OnDisconnect(func(r DisconnectReason) { disconnects <- ticks.mark(fmt.Sprintf("[disconnect %s] ", r)) })
	if setup != nil {
		setup(c)
	}
	if err := c.Connect(ctxTimeout(t, 10*time.Second), url); err != nil {
		t.Fatal(err)
	}
	return &tickClient{Client: c, ticks: ticks, connects: connects, disconnects: disconnects}
}

// fastReconnect are options that reconnect every 50ms, without jitter.
func fastReconnect(o Options) Options {
	o.ReconnectionDelay = 50 * time.Millisecond
	o.ReconnectionDelayMax = 50 * time.Millisecond
	o.RandomizationFactor = -1
	o.Logger = testLogger()
	return o
}

// recoveryGateway is an in-process siogate gateway pinging every 200ms,
// with connection state recovery on or off. It reports the connections and
// disconnections of its namespaces "/" and "/chat".
type recoveryGateway struct {
	srv   *gateway.Server
	addr  string
	conns chan gwConn
	gone  chan string // the sid of each disconnect
}

// gwConn is a connection as the gateway saw it.
type gwConn struct {
	sock      *gateway.Socket
	sid       string
	recovered bool
	auth      map[string]any
}

func startRecoveryGateway(t *testing.T, recovery bool) *recoveryGateway {
	t.Helper()
	return startRecoveryGatewayWith(t, gateway.RecoveryConfig{Enabled: recovery})
}

func startRecoveryGatewayWith(t *testing.T, rc gateway.RecoveryConfig) *recoveryGateway {
	t.Helper()
	srv := gateway.NewServer(gateway.Config{
		Engine:   engineio.Config{PingInterval: 200 * time.Millisecond, PingTimeout: 200 * time.Millisecond},
		Recovery: rc,
	})
	g := &recoveryGateway{srv: srv, conns: make(chan gwConn, 64), gone: make(chan string, 64)}
	for _, ns := range []string{"/", "/chat"} {
		srv.Of(ns).OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
			var a map[string]any
			_ = json.Unmarshal(auth, &a)
			g.conns <- gwConn{sock: s, sid: s.ID(), recovered: s.Recovered(), auth: a}
			return nil
		})
		srv.Of(ns).OnDisconnect(func(s *gateway.Socket, _ gateway.DisconnectReason) { g.gone <- s.ID() })
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ts.Close()
	})
	g.addr = ts.Listener.Addr().String()
	return g
}

// tickSource emits "tick" 1, 2, ... through emit, one at a time, whether
// from the test or from its background pace.
type tickSource struct {
	emit func(n int) error

	mu sync.Mutex
	n  int
}

func (s *tickSource) next(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if err := s.emit(s.n); err != nil {
		t.Errorf("emitting tick %d: %v", s.n, err)
	}
}

// pace emits a tick every d until the returned function is called, which
// returns the number of the last tick.
func (s *tickSource) pace(t *testing.T, d time.Duration) (stop func() int) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		tk := time.NewTicker(d)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				s.next(t)
			}
		}
	}()
	var once sync.Once
	stop = func() int {
		once.Do(func() { close(done) })
		<-exited
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.n
	}
	t.Cleanup(func() { stop() }) // no t.Errorf once the test is over
	return stop
}

// TestRecoveryGatewayCuts: while the gateway emits a tick every
// millisecond, the network goes down three times, each time until both
// ends have seen the connection drop and ten more ticks were emitted.
// Every reconnection recovers the session (same sid, the pid and offset
// in the auth next to the application's), the missed ticks are dispatched
// before the connect handler runs, and every tick is handled once, in
// order, with its offset as last argument. (Until the gateway bug that
// TestRecoveryGatewayStoredBeforeReplay shows is fixed, a tick may now and
// then arrive twice, right after a recovered connect.)
func TestRecoveryGatewayCuts(t *testing.T) {
	for _, m := range transportModes {
		t.Run(m.name, func(t *testing.T) {
			gw := startRecoveryGateway(t, true)
			sw := newNetSwitch(t, gw.addr)
			c := connectTickClient(t, sw.url(), Options{Transports: m.transports, Auth: map[string]any{"token": "abc"}}, nil)
			ticks, connects, disconnects := c.ticks, c.connects, c.disconnects
			first := waitFor(t, connects, "the first connect")
			sc := waitFor(t, gw.conns, "the first connection on the gateway")
			if first.recovered || sc.recovered || first.sid != sc.sid {
				t.Fatalf("first connection: client recovered=%v sid %s, gateway recovered=%v sid %s", first.recovered, first.sid, sc.recovered, sc.sid)
			}
			if _, ok := sc.auth["pid"]; ok || sc.auth["token"] != "abc" {
				t.Fatalf("first CONNECT auth = %v, want the application's only", sc.auth)
			}

			src := &tickSource{emit: func(n int) error { return gw.srv.Emit(context.Background(), "tick", n) }}
			stop := src.pace(t, time.Millisecond)
			const cuts = 3
			for i := 1; i <= cuts; i++ {
				ticks.waitLen(t, ticks.len()+20) // ticks flow on this connection
				n := sw.down()
				before := waitFor(t, disconnects, "the client to see the network down")
				if sid := waitFor(t, gw.gone, "the gateway to see the network down"); sid != first.sid {
					t.Fatalf("gateway lost %s, want %s", sid, first.sid)
				}
				for range 10 {
					src.next(t) // missed: the socket is gone
				}
				sw.up()
				info := waitFor(t, connects, "a reconnection")
				sc := waitFor(t, gw.conns, "a reconnection on the gateway")
				t.Logf("cut %d: %d streams cut, %d ticks replayed", i, n, info.ticks-before)
				if !info.recovered || info.sid != first.sid || !sc.recovered || sc.sid != first.sid {
					t.Fatalf("cut %d: client recovered=%v sid %s, gateway recovered=%v sid %s, want recovered with sid %s",
						i, info.recovered, info.sid, sc.recovered, sc.sid, first.sid)
				}
				pid, _ := sc.auth["pid"].(string)
				off, _ := sc.auth["offset"].(string)
				if pid == "" || off == "" || sc.auth["token"] != "abc" {
					t.Fatalf("cut %d: CONNECT auth = %v, want pid, offset and token", i, sc.auth)
				}
				if info.ticks-before < 10 {
					t.Fatalf("cut %d: %d ticks handled between the disconnect and connect handlers, want the 10+ missed ones", i, info.ticks-before)
				}
			}
			total := stop()
			ticks.waitLen(t, total)
			ticks.check(t, total)
			if !c.Recovered() || c.SID("/") != first.sid {
				t.Errorf("at the end: Recovered()=%v, sid %s (first %s)", c.Recovered(), c.SID("/"), first.sid)
			}
		})
	}
}

// TestRecoveryGatewaySession follows one session step by step: the
// offsets taken (not from events with an acknowledgement request), the
// order of the replayed events and the connect handler, and a Disconnect
// followed by Connect, which starts afresh without presenting the old
// session.
func TestRecoveryGatewaySession(t *testing.T) {
	gw := startRecoveryGateway(t, true)
	sw := newNetSwitch(t, gw.addr)
	c := New(fastReconnect(Options{Transports: []string{"websocket"}, Auth: map[string]any{"token": "abc"}}))
	shutdown(t, c)

	var mu sync.Mutex
	var calls []string
	record := func(s string) {
		mu.Lock()
		calls = append(calls, s)
		mu.Unlock()
	}
	offsets := make(chan string, 16)
	c.On("tick", func(e *Event) []any {
		record(fmt.Sprintf("tick %s", e.Args.Raw(0)))
		offsets <- e.Offset
		return nil
	})
	c.On("ask", func(e *Event) []any {
		if !e.AckRequested || e.Offset != "" || e.Args.String(e.Args.Len()-1) != "not an offset" {
			t.Errorf("ask: ack requested %v, offset %q, args %d", e.AckRequested, e.Offset, e.Args.Len())
		}
		record("ask")
		return []any{"ok"}
	})
	connected := make(chan bool, 4)
	c.OnConnect(func() {
		record(fmt.Sprintf("connect recovered=%v", c.Recovered()))
		connected <- c.Recovered()
	})
	disconnected := make(chan DisconnectReason, 4)
	c.OnDisconnect(func(r DisconnectReason) { disconnected <- r })

	if err := c.Connect(ctxTimeout(t, 10*time.Second), sw.url()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, connected, "connect")
	sc := waitFor(t, gw.conns, "the gateway's socket")
	sid := sc.sid
	if err := gw.srv.Emit(context.Background(), "tick", 1); err != nil {
		t.Fatal(err)
	}
	off1 := waitFor(t, offsets, "tick 1")
	if off1 == "" {
		t.Fatal("tick 1 gave no offset")
	}
	// An event with an ack request is not stored: its last argument,
	// a string here, is not taken for an offset.
	if _, err := sc.sock.EmitWithAck(ctxTimeout(t, 5*time.Second), "ask", "not an offset"); err != nil {
		t.Fatal(err)
	}

	sw.down()
	if r := waitFor(t, disconnected, "disconnect"); r == ReasonClientDisconnect || r == ReasonServerDisconnect {
		t.Fatalf("disconnect reason %q", r)
	}
	waitFor(t, gw.gone, "the gateway to see the network down")
	for n := 2; n <= 4; n++ {
		if err := gw.srv.Emit(context.Background(), "tick", n); err != nil {
			t.Fatal(err)
		}
	}
	sw.up()
	if !waitFor(t, connected, "reconnect") {
		t.Fatal("not recovered")
	}
	sc = waitFor(t, gw.conns, "the gateway's recovered socket")
	if !sc.recovered || sc.sid != sid || c.SID("/") != sid {
		t.Fatalf("gateway recovered=%v sid %s, client sid %s, want %s", sc.recovered, sc.sid, c.SID("/"), sid)
	}
	if pid, _ := sc.auth["pid"].(string); pid == "" || sc.auth["offset"] != off1 || sc.auth["token"] != "abc" || len(sc.auth) != 3 {
		t.Fatalf("recovering CONNECT auth = %v, want pid, offset %q and token", sc.auth, off1)
	}
	mu.Lock()
	got := slices.Clone(calls)
	mu.Unlock()
	want := []string{"connect recovered=false", "tick 1", "ask", "tick 2", "tick 3", "tick 4", "connect recovered=true"}
	if !slices.Equal(got, want) {
		t.Fatalf("handler calls %q, want %q", got, want)
	}

	// A client disconnect ends the session: the next Connect is a first
	// connection again.
	if err := c.Disconnect(); err != nil {
		t.Fatal(err)
	}
	c.Wait()
	if r := waitFor(t, disconnected, "client disconnect"); r != ReasonClientDisconnect {
		t.Fatalf("disconnect reason %q", r)
	}
	waitFor(t, gw.gone, "the gateway to see the client leave")
	if c.Recovered() {
		t.Error("Recovered() while disconnected")
	}
	if err := c.Connect(ctxTimeout(t, 10*time.Second), sw.url()); err != nil {
		t.Fatal(err)
	}
	if waitFor(t, connected, "connect after Disconnect") {
		t.Error("recovered after a client disconnect")
	}
	sc = waitFor(t, gw.conns, "the gateway's new socket")
	if _, ok := sc.auth["pid"]; ok || sc.recovered || sc.sid == sid || c.SID("/") != sc.sid {
		t.Fatalf("after Disconnect and Connect: auth %v, gateway recovered=%v, sid %s (old %s, client %s)", sc.auth, sc.recovered, sc.sid, sid, c.SID("/"))
	}
}

// TestRecoveryGatewayOff: against a gateway without recovery, the CONNECT
// answer has no pid, so reconnections present none and are not recovered.
func TestRecoveryGatewayOff(t *testing.T) {
	gw := startRecoveryGateway(t, false)
	sw := newNetSwitch(t, gw.addr)
	offsets := make(chan string, 4)
	c := connectTickClient(t, sw.url(), Options{Transports: []string{"websocket"}}, func(c *Client) {
		c.On("tick", func(e *Event) []any { offsets <- e.Offset; return nil })
	})
	connects, disconnects := c.connects, c.disconnects
	first := waitFor(t, connects, "connect")
	waitFor(t, gw.conns, "the gateway's socket")
	// The last argument is a string, but without a pid nothing is taken.
	if err := gw.srv.Emit(context.Background(), "tick", "a string"); err != nil {
		t.Fatal(err)
	}
	if off := waitFor(t, offsets, "tick"); off != "" {
		t.Errorf("offset %q taken without recovery", off)
	}
	sw.down()
	waitFor(t, disconnects, "disconnect")
	sw.up()
	info := waitFor(t, connects, "reconnect")
	sc := waitFor(t, gw.conns, "the gateway's new socket")
	if info.recovered || sc.recovered || info.sid == first.sid {
		t.Errorf("recovered=%v (gateway %v), sid %s (first %s)", info.recovered, sc.recovered, info.sid, first.sid)
	}
	if _, ok := sc.auth["pid"]; ok {
		t.Errorf("auth %v presents a pid to a server without recovery", sc.auth)
	}
}

// TestRecoveryDisconnectFromConnectHandler: a connect handler that calls
// Disconnect on a reconnection (here, when the session was recovered) may
// run before the reconnection attempt has seen its namespaces connected;
// the session must end all the same rather than reconnect.
func TestRecoveryDisconnectFromConnectHandler(t *testing.T) {
	gw := startRecoveryGateway(t, true)
	sw := newNetSwitch(t, gw.addr)
	c := New(fastReconnect(Options{Transports: []string{"websocket"}}))
	shutdown(t, c)
	connected := make(chan bool, 4)
	c.OnConnect(func() {
		r := c.Recovered()
		if r {
			if err := c.Disconnect(); err != nil {
				t.Errorf("Disconnect from the connect handler: %v", err)
			}
		}
		connected <- r
	})
	c.On("tick", func(*Event) []any { return nil })
	if err := c.Connect(ctxTimeout(t, 10*time.Second), sw.url()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, connected, "connect")
	sc := waitFor(t, gw.conns, "the gateway's socket")
	if err := gw.srv.Emit(context.Background(), "tick"); err != nil {
		t.Fatal(err)
	}
	sw.down()
	waitFor(t, gw.gone, "the gateway to see the network down")
	sw.up()
	if !waitFor(t, connected, "reconnect") {
		t.Fatal("not recovered")
	}
	if sc := waitFor(t, gw.conns, "the gateway's recovered socket"); !sc.recovered {
		t.Fatal("the gateway did not recover the session")
	}
	if sid := waitFor(t, gw.gone, "the gateway to see the client leave"); sid != sc.sid {
		t.Fatalf("gateway lost %s, want %s", sid, sc.sid)
	}
	ended := make(chan struct{})
	go func() { c.Wait(); close(ended) }()
	waitFor(t, ended, "the session to end")
	if c.Connected() {
		t.Error("connected after Disconnect")
	}
}

// TestRecoverySimpleClient: a SimpleClient on a namespace other than "/"
// recovers its session too, and Receive reports the offsets.
func TestRecoverySimpleClient(t *testing.T) {
	gw := startRecoveryGateway(t, true)
	sw := newNetSwitch(t, gw.addr)
	c := NewSimpleClient(fastReconnect(Options{Transports: []string{"websocket"}}))
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Connect(ctxTimeout(t, 10*time.Second), sw.url(), "/chat"); err != nil {
		t.Fatal(err)
	}
	sc := waitFor(t, gw.conns, "the gateway's socket")
	if c.Recovered() || c.SID() != sc.sid {
		t.Fatalf("first connection: Recovered()=%v, sid %s, want %s", c.Recovered(), c.SID(), sc.sid)
	}
	chat := gw.srv.Of("/chat")
	receive := func(want int) {
		t.Helper()
		r, err := c.Receive(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := r.Args.Decode(0, &n); err != nil || r.Name != "tick" || n != want || r.Offset == "" || r.Args.String(1) != r.Offset {
			t.Fatalf("received %s %s (offset %q, %v), want tick %d with its offset", r.Name, r.Args.Raw(0), r.Offset, err, want)
		}
	}
	if err := chat.Emit(context.Background(), "tick", 1); err != nil {
		t.Fatal(err)
	}
	receive(1)
	sw.down()
	waitFor(t, gw.gone, "the gateway to see the network down")
	if err := chat.Emit(context.Background(), "tick", 2); err != nil {
		t.Fatal(err)
	}
	sw.up()
	receive(2) // replayed; the namespace is connected by the time it is handled
	if !c.Recovered() || c.SID() != sc.sid {
		t.Fatalf("after the cut: Recovered()=%v, sid %s, want %s", c.Recovered(), c.SID(), sc.sid)
	}
	if sc := waitFor(t, gw.conns, "the gateway's recovered socket"); !sc.recovered {
		t.Fatal("the gateway did not recover the session")
	}
}

// TestReferenceRecovery: Node's socket.io with connectionStateRecovery
// streams a tick every 5ms while the network goes down twice, each time
// until both ends have seen it. Both sides report every reconnection as
// recovered with the same sid, and every tick is handled once, in order.
// Then Disconnect and Connect start a fresh session.
func TestReferenceRecovery(t *testing.T) {
	for _, m := range transportModes {
		t.Run(m.name, func(t *testing.T) {
			srv := newReference(t, 0)
			srv.env = append(srv.env, "SIOGATE_RECOVERY=1")
			srv.start()
			sw := newNetSwitch(t, fmt.Sprintf("127.0.0.1:%d", srv.port))
			type welcome struct {
				SID       string
				Auth      map[string]any
				Recovered bool
			}
			welcomes := make(chan welcome, 16)
			c := connectTickClient(t, sw.url(), Options{Transports: m.transports, Auth: map[string]any{"token": "abc"}}, func(c *Client) {
				c.On("welcome", func(e *Event) []any {
					var w welcome
					if err := e.Args.Decode(0, &w); err != nil {
						t.Errorf("welcome: %v", err)
					}
					welcomes <- w
					return nil
				})
			})
			ticks, connects, disconnects := c.ticks, c.connects, c.disconnects
			first := waitFor(t, connects, "connect")
			w := waitFor(t, welcomes, "welcome")
			if first.recovered || w.Recovered || w.SID != first.sid || w.Auth["pid"] != nil || w.Auth["token"] != "abc" {
				t.Fatalf("first connection: recovered=%v, welcome %+v, sid %s", first.recovered, w, first.sid)
			}
			if err := c.Emit("stream-start", 5); err != nil {
				t.Fatal(err)
			}
			const cuts = 2
			replayed := 0
			for i := 1; i <= cuts; i++ {
				ticks.waitLen(t, ticks.len()+20)
				sw.down()
				before := waitFor(t, disconnects, "the client to see the network down")
				srv.waitOutput("disconnect "+first.sid, i)
				sw.up()
				info := waitFor(t, connects, "a reconnection")
				w := waitFor(t, welcomes, "welcome after reconnecting")
				replayed += info.ticks - before
				t.Logf("cut %d: %d ticks replayed", i, info.ticks-before)
				if !info.recovered || info.sid != first.sid || !w.Recovered || w.SID != first.sid {
					t.Fatalf("cut %d: client recovered=%v sid %s, server recovered=%v sid %s, want recovered with sid %s",
						i, info.recovered, info.sid, w.Recovered, w.SID, first.sid)
				}
				if pid, _ := w.Auth["pid"].(string); pid == "" || w.Auth["offset"] == nil || w.Auth["token"] != "abc" {
					t.Fatalf("cut %d: CONNECT auth = %v, want pid, offset and token", i, w.Auth)
				}
			}
			args, err := c.EmitWithAck(ctxTimeout(t, 5*time.Second), "stream-stop")
			if err != nil {
				t.Fatal(err)
			}
			var total int
			if err := args.Decode(0, &total); err != nil {
				t.Fatal(err)
			}
			ticks.waitLen(t, total)
			ticks.check(t, total)
			if replayed == 0 {
				t.Error("no tick was missed and replayed: the cuts did not test recovery")
			}

			if err := c.Disconnect(); err != nil {
				t.Fatal(err)
			}
			c.Wait()
			waitFor(t, disconnects, "client disconnect")
			if err := c.Connect(ctxTimeout(t, 10*time.Second), sw.url()); err != nil {
				t.Fatal(err)
			}
			info := waitFor(t, connects, "connect after Disconnect")
			w = waitFor(t, welcomes, "welcome after Disconnect")
			if info.recovered || w.Recovered || info.sid == first.sid || w.Auth["pid"] != nil {
				t.Fatalf("after Disconnect and Connect: recovered=%v, welcome %+v, old sid %s", info.recovered, w, first.sid)
			}
		})
	}
}

// TestWithRecovery: the pid and offset merged into the CONNECT auth; the
// application's own keys win, as in socket.io-client.
func TestWithRecovery(t *testing.T) {
	for _, tc := range []struct {
		auth string
		r    recoveryState
		want string
	}{
		{"", recoveryState{pid: "p"}, `{"pid":"p"}`},
		{"", recoveryState{pid: "p", offset: "o", hasOffset: true}, `{"offset":"o","pid":"p"}`},
		{"", recoveryState{pid: "p", hasOffset: true}, `{"offset":"","pid":"p"}`},
		{`{"token":"t"}`, recoveryState{pid: "p", offset: "o", hasOffset: true}, `{"offset":"o","pid":"p","token":"t"}`},
		{`{"pid":"mine","token":"t"}`, recoveryState{pid: "p", offset: "o", hasOffset: true}, `{"offset":"o","pid":"mine","token":"t"}`},
	} {
		var auth []byte
		if tc.auth != "" {
			auth = []byte(tc.auth)
		}
		got, err := withRecovery(auth, tc.r)
		if err != nil || string(got) != tc.want {
			t.Errorf("withRecovery(%s, %+v) = %s, %v; want %s", tc.auth, tc.r, got, err, tc.want)
		}
	}
}

// stallingStore is a recovery store whose next Append, once armed, stalls
// after storing its event, before the gateway delivers that event live.
type stallingStore struct {
	adapter.RecoveryStore
	armed   atomic.Bool
	stalled chan chan struct{} // receives the channel that releases the stall
}

func (s *stallingStore) Append(ctx context.Context, nsp string, p adapter.StoredPacket) (string, error) {
	off, err := s.RecoveryStore.Append(ctx, nsp, p)
	if s.armed.CompareAndSwap(true, false) {
		release := make(chan struct{})
		s.stalled <- release
		<-release
	}
	return off, err
}

// TestRecoveryGatewayStoredBeforeReplay: an event stored while its client
// is away but delivered live only once the client has recovered (the
// emitting goroutine was slow between storing and delivering) is in the
// replay and must not be delivered again.
//
// Skipped: the gateway delivers it twice (Operator.Emit stores, then
// broadcasts; Socket.connected drops the live frames that duplicate the
// replay only while the socket is not ready yet). The client, like
// socket.io-client, does not deduplicate. TestRecoveryGatewayCuts hits
// this now and then under load.
func TestRecoveryGatewayStoredBeforeReplay(t *testing.T) {
	store := &stallingStore{RecoveryStore: adapter.NewMemoryStore(adapter.MemoryStoreOptions{}), stalled: make(chan chan struct{}, 1)}
	gw := startRecoveryGatewayWith(t, gateway.RecoveryConfig{Enabled: true, Store: store})
	sw := newNetSwitch(t, gw.addr)
	c := connectTickClient(t, sw.url(), Options{Transports: []string{"websocket"}}, nil)
	ticks, connects := c.ticks, c.connects
	waitFor(t, connects, "connect")
	emit := func(n int) {
		if err := gw.srv.Emit(context.Background(), "tick", n); err != nil {
			t.Errorf("tick %d: %v", n, err)
		}
	}
	emit(1)
	ticks.waitLen(t, 1)
	sw.down()
	waitFor(t, gw.gone, "the gateway to see the network down")
	store.armed.Store(true)
	emitted := make(chan struct{})
	go func() { emit(2); close(emitted) }()
	release := waitFor(t, store.stalled, "tick 2 stored")
	sw.up()
	if info := waitFor(t, connects, "reconnect"); !info.recovered || info.ticks != 2 {
		t.Fatalf("reconnected: recovered=%v after %d ticks, want recovered with tick 2 replayed", info.recovered, info.ticks)
	}
	close(release) // tick 2 now goes out live too
	waitFor(t, emitted, "tick 2 emitted")
	emit(3)
	ticks.waitLen(t, 3)
	ticks.check(t, 3)
}
