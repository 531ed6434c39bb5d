package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// welcomeInfo is the reference server's "welcome" payload.
type welcomeInfo struct {
	SID    string
	Auth   map[string]string
	Header *string
	Query  *string
	Nsp    string
}

func decodeWelcome(t *testing.T, e *Event) welcomeInfo {
	t.Helper()
	var w welcomeInfo
	if err := e.Args.Decode(0, &w); err != nil {
		t.Fatalf("welcome: %v", err)
	}
	return w
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestReferenceURLAndHeadersFuncs checks that URLFunc and HeadersFunc are
// evaluated again for every reconnection: after the first server dies the
// client moves to the URL the function now returns, another server.
func TestReferenceURLAndHeadersFuncs(t *testing.T) {
	first := startReference(t, 0)
	second := reference(t)
	var urls, headers atomic.Int32
	c := New(Options{
		Transports: []string{"websocket"},
		URLFunc: func() string {
			n := urls.Add(1)
			srv := second
			if n == 1 {
				srv = first
			}
			return srv.url() + "/ignored/path?q=" + strconv.Itoa(int(n))
		},
		HeadersFunc: func() http.Header {
			return http.Header{"X-Siogate-Test": {"h" + strconv.Itoa(int(headers.Add(1)))}}
		},
		ReconnectionDelay:    50 * time.Millisecond,
		ReconnectionDelayMax: 100 * time.Millisecond,
		Logger:               testLogger(),
	})
	shutdown(t, c)
	rec := newRecorder()
	c.On("welcome", rec.handler())
	if err := c.Connect(ctxTimeout(t, 15*time.Second), ""); err != nil {
		t.Fatal(err)
	}
	w := decodeWelcome(t, rec.next(t, "welcome"))
	if deref(w.Query) != "1" || deref(w.Header) != "h1" {
		t.Errorf("first welcome: query %s, header %s", deref(w.Query), deref(w.Header))
	}
	first.stop()
	w = decodeWelcome(t, rec.next(t, "welcome"))
	q, _ := strconv.Atoi(deref(w.Query))
	if q < 2 || deref(w.Header) != "h"+deref(w.Query) {
		t.Errorf("welcome after reconnecting: query %s, header %s", deref(w.Query), deref(w.Header))
	}
	if args, err := c.EmitWithAck(ctxTimeout(t, 5*time.Second), "echo", "moved"); err != nil || args.String(0) != "moved" {
		t.Errorf("echo on the second server = %v, %v", args, err)
	}
	// Without URLFunc an empty URL is refused at once.
	if err := New(Options{}).Connect(ctxTimeout(t, time.Second), ""); err == nil {
		t.Error("Connect(\"\") without URLFunc succeeded")
	}
}

// TestReferenceDisableWait connects with DisableWait to "/" (accepted), "/slow"
// (never answered) and "/admin" (refused): Connect returns at once, an
// emit made right away is buffered until "/" is connected, and the refusal
// reaches OnConnectError and drops "/admin" from the session.
func TestReferenceDisableWait(t *testing.T) {
	srv := reference(t)
	c := New(Options{
		Namespaces:  []string{"/", "/slow", "/admin"},
		DisableWait: true,
		Auth:        map[string]string{"token": "wrong"},
		Logger:      testLogger(),
	})
	shutdown(t, c)
	connected := make(chan string, 4)
	refused := make(chan *ConnectError, 4)
	rec := newRecorder()
	c.OnConnect(func() { connected <- "/" })
	c.Of("/slow").OnConnect(func() { connected <- "/slow" })
	c.Of("/admin").OnConnectError(func(e *ConnectError) { refused <- e })
	c.On("echo-back", rec.handler())
	start := time.Now()
	if err := c.Connect(ctxTimeout(t, 15*time.Second), srv.url()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Connect with DisableWait took %v", d)
	}
	if err := c.Emit("echo", "early"); err != nil {
		t.Fatalf("Emit right after a DisableWait Connect = %v", err)
	}
	if ns := waitFor(t, connected, "connect of /"); ns != "/" {
		t.Errorf("connected %s", ns)
	}
	if e := rec.next(t, "echo-back"); e.Args.String(0) != "early" {
		t.Errorf("echo-back %s", mustJSON(e.Args))
	}
	if e := waitFor(t, refused, "connect_error of /admin"); e.Message != "not authorized" {
		t.Errorf("refusal %+v", e)
	}
	if !c.Connected() || c.SID("/slow") != "" || c.SID("/admin") != "" {
		t.Errorf("connected %v, sid /slow %q, sid /admin %q", c.Connected(), c.SID("/slow"), c.SID("/admin"))
	}
	if err := c.Of("/admin").Emit("echo", 1); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Emit on the refused namespace = %v", err)
	}
	if err := c.Of("/slow").Emit("echo", 1); err != nil {
		t.Errorf("Emit on the connecting namespace = %v (should buffer)", err)
	}
	select {
	case ns := <-connected:
		t.Errorf("unexpected connect of %s", ns)
	default:
	}

	// Every namespace refused: the session ends by itself.
	c2 := New(Options{Namespaces: []string{"/admin"}, DisableWait: true, Logger: testLogger()})
	shutdown(t, c2)
	if err := c2.Connect(ctxTimeout(t, 15*time.Second), srv.url()); err != nil {
		t.Fatal(err)
	}
	waitDone(t, c2)
}

// TestReferenceCatchAllNamespace checks the "*" namespace and the "*" event
// together, and that connect and disconnect are not caught.
func TestReferenceCatchAllNamespace(t *testing.T) {
	srv := reference(t)
	c := New(Options{Namespaces: []string{"/", "/admin"}, Auth: map[string]string{"token": "secret"}, Logger: testLogger()})
	shutdown(t, c)
	welcomes, anything, own := newRecorder(), newRecorder(), newRecorder()
	var wildLifecycle atomic.Int32
	c.Of(CatchAllNamespace).On("welcome", welcomes.handler())
	c.Of(CatchAllNamespace).On(CatchAll, anything.handler())
	c.Of(CatchAllNamespace).OnConnect(func() { wildLifecycle.Add(1) })
	c.Of(CatchAllNamespace).OnDisconnect(func(DisconnectReason) { wildLifecycle.Add(1) })
	c.On("echo-back", own.handler())
	disconnected := make(chan string, 2)
	c.OnDisconnect(func(DisconnectReason) { disconnected <- "/" })
	c.Of("/admin").OnDisconnect(func(DisconnectReason) { disconnected <- "/admin" })
	if err := c.Connect(ctxTimeout(t, 15*time.Second), srv.url()); err != nil {
		t.Fatal(err)
	}
	var nss []string
	for range 2 {
		e := welcomes.next(t, "welcome")
		nss = append(nss, e.Namespace)
	}
	slices.Sort(nss)
	if !slices.Equal(nss, []string{"/", "/admin"}) {
		t.Errorf("welcome namespaces %v", nss)
	}
	// "/" has its own echo-back handler; binary-back falls to "*"/"*".
	if err := c.Emit("echo", "mine"); err != nil {
		t.Fatal(err)
	}
	if e := own.next(t, "echo-back"); e.Namespace != "/" || e.Args.String(0) != "mine" {
		t.Errorf("own handler got %s on %s", mustJSON(e.Args), e.Namespace)
	}
	if err := c.Emit("binary", []byte{1}); err != nil {
		t.Fatal(err)
	}
	if e := anything.next(t, "binary-back"); e.Namespace != "/" {
		t.Errorf("catch-all got binary-back on %s", e.Namespace)
	}
	if err := c.Of(CatchAllNamespace).Emit("echo"); err == nil {
		t.Error("Emit on the catch-all namespace succeeded")
	}
	if err := c.Disconnect(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, disconnected, "disconnect")
	waitFor(t, disconnected, "disconnect")
	c.Wait()
	close(anything.ch)
	for e := range anything.ch {
		if isReserved(e.Name) || e.Name == "echo-back" || e.Name == "welcome" {
			t.Errorf("catch-all got %q on %s", e.Name, e.Namespace)
		}
	}
	if n := wildLifecycle.Load(); n != 0 {
		t.Errorf("catch-all namespace lifecycle handlers ran %d times", n)
	}
	// Handlers on "*" alone do not make the client connect "*".
	c2 := New(Options{})
	c2.Of(CatchAllNamespace).On(CatchAll, func(*Event) []any { return nil })
	c2.Of("/chat").On("x", func(*Event) []any { return nil })
	if ns := c2.namespaces(); !slices.Equal(ns, []string{"/chat"}) {
		t.Errorf("default namespaces %v", ns)
	}
}

// mainNS is a class-style handler of "/".
type mainNS struct {
	NamespaceBase
	log chan string
}

func (n *mainNS) OnConnect() {
	n.log <- "connect"
	_ = n.Emit("echo", "from-connect")
}

func (n *mainNS) OnDisconnect(r DisconnectReason) { n.log <- "disconnect:" + string(r) }

func (n *mainNS) OnWelcome(e *Event) { n.log <- "welcome" }

func (n *mainNS) OnEchoBack(e *Event) []any {
	n.log <- "echo-back:" + e.Args.String(0)
	return nil
}

func (n *mainNS) OnQuestion(e *Event) []any { return []any{"class:" + e.Args.String(0)} }

func (n *mainNS) OnBinaryBack(e *Event) { n.log <- "class binary-back" }

// adminNS names its handlers explicitly.
type adminNS struct {
	NamespaceBase
	log chan string
}

func (n *adminNS) Events() map[string]EventHandler {
	return map[string]EventHandler{
		"welcome": func(e *Event) []any { n.log <- "admin welcome"; return nil },
	}
}

func (n *adminNS) OnDisconnect(r DisconnectReason) { n.log <- "admin disconnect:" + string(r) }

type badNS struct{}

func (badNS) OnThing(s string) {}

func TestReferenceClassNamespaces(t *testing.T) {
	srv := reference(t)
	c := New(Options{Auth: map[string]string{"token": "secret"}, Logger: testLogger()})
	shutdown(t, c)
	if err := c.Register("/", badNS{}); err == nil {
		t.Error("Register accepted OnThing(string)")
	}
	main := &mainNS{log: make(chan string, 32)}
	admin := &adminNS{log: main.log}
	if err := c.Register("/", main); err != nil {
		t.Fatal(err)
	}
	if err := c.Register("admin", admin); err != nil {
		t.Fatal(err)
	}
	if err := main.Emit("echo"); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Emit before Connect = %v", err)
	}
	functionGot := make(chan struct{}, 1)
	c.On("binary-back", func(*Event) []any { functionGot <- struct{}{}; return nil }) // wins over the method
	if err := c.Connect(ctxTimeout(t, 15*time.Second), srv.url()); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for range 4 {
		got[waitFor(t, main.log, "class handler")] = true
	}
	for _, want := range []string{"connect", "welcome", "echo-back:from-connect", "admin welcome"} {
		if !got[want] {
			t.Errorf("missing %q in %v", want, got)
		}
	}
	args, err := main.EmitWithAck(ctxTimeout(t, 5*time.Second), "ask", "q")
	if err != nil || args.String(0) != "class:q" {
		t.Errorf("ask answered by OnQuestion = %s, %v", mustJSON(args), err)
	}
	if err := main.Emit("binary", []byte{9}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, functionGot, "function handler of binary-back")
	if main.SID() != c.SID("/") || admin.SID() != c.SID("/admin") || admin.SID() == "" || admin.SID() == main.SID() {
		t.Errorf("sids: main %q, admin %q", main.SID(), admin.SID())
	}
	if args, err := admin.EmitWithAck(ctxTimeout(t, 5*time.Second), "echo", "adm"); err != nil || args.String(0) != "adm" {
		t.Errorf("admin echo = %v, %v", args, err)
	}

	// Disconnecting one namespace leaves the other connected.
	if err := admin.Disconnect(); err != nil {
		t.Fatal(err)
	}
	if s := waitFor(t, main.log, "admin disconnect"); s != "admin disconnect:"+string(ReasonClientDisconnect) {
		t.Errorf("got %q", s)
	}
	if err := admin.Emit("echo", 1); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Emit on the disconnected namespace = %v", err)
	}
	if args, err := main.EmitWithAck(ctxTimeout(t, 5*time.Second), "echo", "still"); err != nil || args.String(0) != "still" {
		t.Errorf("echo on / after /admin left = %v, %v", args, err)
	}
	// The last one ends the session.
	if err := main.Disconnect(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, c)
	if s := waitFor(t, main.log, "disconnect"); s != "disconnect:"+string(ReasonClientDisconnect) {
		t.Errorf("got %q", s)
	}
	if c.Connected() {
		t.Error("still connected")
	}
}

// TestReferenceEmitModifiers covers Timeout, Retries and Volatile on a
// connected client.
func TestReferenceEmitModifiers(t *testing.T) {
	srv := reference(t)
	c := New(Options{Transports: []string{"websocket"}, Logger: testLogger()})
	shutdown(t, c)
	rec := newRecorder()
	c.On("echo-back", rec.handler())
	if err := c.Connect(ctxTimeout(t, 15*time.Second), srv.url()); err != nil {
		t.Fatal(err)
	}
	type result struct {
		name string
		args Args
		err  error
		at   time.Duration
	}
	results := make(chan result, 16)
	start := time.Now()
	cb := func(name string) AckCallback {
		return func(a Args, err error) { results <- result{name, a, err, time.Since(start)} }
	}

	// Per-emit acknowledgement timeout.
	if err := c.Timeout(200*time.Millisecond).EmitWithCallback(cb("ignored"), "ignore", 1); err != nil {
		t.Fatal(err)
	}
	r := waitFor(t, results, "timeout")
	if !isTimeout(r.err) || r.at < 150*time.Millisecond || r.at > 3*time.Second {
		t.Errorf("ignored: %v after %v", r.err, r.at)
	}
	if err := c.Timeout(5*time.Second).EmitWithCallback(cb("echo"), "echo", "in time"); err != nil {
		t.Fatal(err)
	}
	if r := waitFor(t, results, "ack"); r.err != nil || r.args.String(0) != "in time" {
		t.Errorf("echo: %v %v", mustJSON(r.args), r.err)
	}

	// Retries: resent until acknowledged, one at a time, in order.
	key := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
	em := c.Retries(3).Timeout(150 * time.Millisecond)
	if err := em.EmitWithCallback(cb("a"), "retry-me", key+"-a", 2); err != nil {
		t.Fatal(err)
	}
	if err := em.EmitWithCallback(cb("b"), "retry-me", key+"-b", 0); err != nil {
		t.Fatal(err)
	}
	if err := em.Emit("retry-me", key+"-c", 1); err != nil { // no callback, still retried
		t.Fatal(err)
	}
	ra, rb := waitFor(t, results, "a"), waitFor(t, results, "b")
	if ra.name != "a" || ra.err != nil || string(ra.args.Raw(0)) != "3" {
		t.Errorf("first: %s %s %v", ra.name, mustJSON(ra.args), ra.err)
	}
	if rb.name != "b" || rb.err != nil || string(rb.args.Raw(0)) != "1" {
		t.Errorf("second: %s %s %v (sent before the first was acknowledged?)", rb.name, mustJSON(rb.args), rb.err)
	}
	// Out of retries: a timeout after 1 + 1 tries.
	start = time.Now()
	if err := c.Retries(1).Timeout(150*time.Millisecond).EmitWithCallback(cb("never"), "ignore", 0); err != nil {
		t.Fatal(err)
	}
	if r := waitFor(t, results, "retries exhausted"); r.name != "never" || !isTimeout(r.err) || r.at < 250*time.Millisecond {
		t.Errorf("never: %v after %v", r.err, r.at)
	}
	// The plain Emit through Retries was resent once: the server counted
	// two receipts, this EmitWithAck is the third.
	args, err := c.EmitWithAck(ctxTimeout(t, 5*time.Second), "retry-me", key+"-c", 0)
	if err != nil || string(args.Raw(0)) != "3" {
		t.Errorf("receipts of c = %s, %v", mustJSON(args), err)
	}

	// Volatile while connected is an ordinary emit.
	if err := c.Volatile().Emit("echo", "vol"); err != nil {
		t.Fatal(err)
	}
	if e := rec.next(t, "echo-back"); e.Args.String(0) != "vol" {
		t.Errorf("echo-back %s", mustJSON(e.Args))
	}
}

// TestReferenceBufferedReconnect kills the server, emits while it is gone,
// restarts it: the buffered events are sent in order after the reconnection,
// the handlers running in order (connect, then the answers), volatile events
// are dropped, and an EmitWithAck pending when the connection dropped fails at once.
func TestReferenceBufferedReconnect(t *testing.T) {
	for _, m := range transportModes[:2] {
		t.Run(m.name, func(t *testing.T) {
			srv := startReference(t, 0)
			opts := Options{
				Transports:           m.transports,
				ReconnectionDelay:    100 * time.Millisecond,
				ReconnectionDelayMax: 200 * time.Millisecond,
				Logger:               testLogger(),
			}
			c := New(opts)
			shutdown(t, c)
			opts.DisableBuffering = true
			strict := New(opts)
			shutdown(t, strict)

			log := make(chan string, 64)
			disconnected := make(chan DisconnectReason, 4)
			c.OnConnect(func() { log <- "connect" })
			c.OnDisconnect(func(r DisconnectReason) { disconnected <- r })
			c.On("echo-back", func(e *Event) []any { log <- "echo-back:" + e.Args.String(0); return nil })
			strictDown := make(chan struct{}, 4)
			strict.OnDisconnect(func(DisconnectReason) { strictDown <- struct{}{} })
			for _, cl := range []*Client{c, strict} {
				if err := cl.Connect(ctxTimeout(t, 15*time.Second), srv.url()); err != nil {
					t.Fatal(err)
				}
			}
			if s := waitFor(t, log, "connect"); s != "connect" {
				t.Fatalf("got %q", s)
			}
			pending := make(chan error, 1)
			go func() {
				_, err := c.EmitWithAck(ctxTimeout(t, 10*time.Second), "ignore")
				pending <- err
			}()
			time.Sleep(100 * time.Millisecond) // let the EmitWithAck leave

			killed := time.Now()
			srv.stop()
			waitFor(t, disconnected, "disconnect")
			if err := waitFor(t, pending, "pending EmitWithAck"); !errors.Is(err, ErrDisconnected) || time.Since(killed) > 3*time.Second {
				t.Errorf("pending EmitWithAck = %v after %v, want ErrDisconnected at once", err, time.Since(killed))
			}
			waitFor(t, strictDown, "strict client's disconnect")

			for i := range 5 {
				if err := c.Emit("echo", strconv.Itoa(i)); err != nil {
					t.Fatalf("buffered Emit %d = %v", i, err)
				}
			}
			if err := c.Volatile().Emit("echo", "volatile"); err != nil {
				t.Fatalf("volatile Emit = %v", err)
			}
			if err := c.EmitWithCallback(func(a Args, err error) { log <- fmt.Sprintf("ack:%s:%v", a.String(0), err) }, "echo", "acked"); err != nil {
				t.Fatal(err)
			}
			key := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
			if err := c.Retries(2).EmitWithCallback(func(a Args, err error) { log <- fmt.Sprintf("retry:%s:%v", a.Raw(0), err) }, "retry-me", key, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := c.EmitWithAck(ctxTimeout(t, time.Second), "echo"); !errors.Is(err, ErrNotConnected) {
				t.Errorf("EmitWithAck while disconnected = %v, want ErrNotConnected", err)
			}
			if err := strict.Emit("echo", 1); !errors.Is(err, ErrNotConnected) {
				t.Errorf("Emit with DisableBuffering = %v, want ErrNotConnected", err)
			}

			srv.start()
			want := []string{"connect", "echo-back:0", "echo-back:1", "echo-back:2", "echo-back:3", "echo-back:4", "ack:acked:<nil>", "retry:1:<nil>"}
			var got []string
			for len(got) < len(want) {
				got = append(got, waitFor(t, log, fmt.Sprintf("handler #%d (got %v)", len(got)+1, got)))
			}
			if !slices.Equal(got, want) {
				t.Errorf("handlers ran as\n%v, want\n%v", got, want)
			}
			select {
			case s := <-log:
				t.Errorf("unexpected %q (the volatile event must be dropped)", s)
			case <-time.After(300 * time.Millisecond):
			}
		})
	}
}

// TestReferenceShutdownDiscardsBuffer: buffered emits are failed with
// ErrDisconnected when the session ends for good.
func TestReferenceShutdownDiscardsBuffer(t *testing.T) {
	c := New(Options{Namespaces: []string{"/slow"}, WaitTimeout: 5 * time.Second, Logger: testLogger()})
	srv := reference(t)
	errs := make(chan error, 1)
	connectDone := make(chan error, 1)
	go func() { connectDone <- c.Connect(context.Background(), srv.url()) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := c.Of("/slow").EmitWithCallback(func(_ Args, err error) { errs <- err }, "echo", 1)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Emit during Connect = %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.Shutdown()
	if err := waitFor(t, connectDone, "Connect"); err == nil {
		t.Error("Connect succeeded")
	}
	if err := waitFor(t, errs, "callback"); !errors.Is(err, ErrDisconnected) {
		t.Errorf("buffered callback got %v", err)
	}
}
