package client

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// eventLog collects what handlers saw, in the order they ran.
type eventLog struct{ ch chan string }

func newEventLog() *eventLog { return &eventLog{ch: make(chan string, 512)} }

func (l *eventLog) add(format string, args ...any) { l.ch <- fmt.Sprintf(format, args...) }

// until returns the entries logged up to and including the first that
// satisfies stop.
func (l *eventLog) until(t *testing.T, what string, stop func(string) bool) []string {
	t.Helper()
	var got []string
	timeout := time.After(15 * time.Second)
	for {
		select {
		case s := <-l.ch:
			got = append(got, s)
			if stop(s) {
				return got
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %s; got %q", what, got)
			return nil
		}
	}
}

// untilEntry returns the entries up to and including want.
func (l *eventLog) untilEntry(t *testing.T, want string) []string {
	t.Helper()
	return l.until(t, strconv.Quote(want), func(s string) bool { return s == want })
}

// reconnectClass is a class-style namespace with the reconnection
// lifecycle methods; its entries start with its name.
type reconnectClass struct {
	NamespaceBase
	name string
	log  *eventLog
}

func (r *reconnectClass) OnReconnectAttempt(n int)   { r.log.add("%s attempt:%d", r.name, n) }
func (r *reconnectClass) OnReconnect(n int)          { r.log.add("%s reconnect:%d", r.name, n) }
func (r *reconnectClass) OnReconnectError(err error) { r.log.add("%s error:%v", r.name, err != nil) }
func (r *reconnectClass) OnReconnectFailed()         { r.log.add("%s failed", r.name) }

// OnReconnectNews is an ordinary event handler (event "reconnect news").
func (r *reconnectClass) OnReconnectNews(*Event) {}

// recordReconnects registers the Client's reconnection handlers; their
// entries start with "client".
func recordReconnects(c *Client, log *eventLog) {
	c.OnReconnectAttempt(func(n int) { log.add("client attempt:%d", n) })
	c.OnReconnect(func(n int) { log.add("client reconnect:%d", n) })
	c.OnReconnectError(func(err error) { log.add("client error:%v", err != nil) })
	c.OnReconnectFailed(func() { log.add("client failed") })
}

// checkAttempts checks the reconnection events of the handlers named who
// among got: attempts numbered from 1, each failed one followed by an
// error, the last one by end (formatted with the last attempt number when
// it contains %d). It returns the number of attempts.
func checkAttempts(t *testing.T, got []string, who, end string) int {
	t.Helper()
	prefix := who + " "
	var mine []string
	for _, s := range got {
		if strings.HasPrefix(s, prefix) {
			mine = append(mine, strings.TrimPrefix(s, prefix))
		}
	}
	n := 0
	for i, s := range mine {
		switch {
		case s == "attempt:"+strconv.Itoa(n+1):
			n++
		case s == "error:true" && n > 0:
		default:
			if i == len(mine)-1 {
				if want := strings.ReplaceAll(end, "%d", strconv.Itoa(n)); s != want {
					t.Errorf("%s events end with %q, want %q: %q", who, s, want, mine)
				}
				return n
			}
			t.Errorf("%s events out of order at %q: %q", who, s, mine)
			return n
		}
	}
	t.Errorf("%s events do not end with %q: %q", who, end, mine)
	return n
}

// TestReconnectEvents stops the server, waits for two failed
// reconnection attempts, starts it again on the same port: the client's
// reconnect_attempt, reconnect_error and reconnect handlers and a class's
// lifecycle methods see the attempts numbered in order, then the
// success with the number of attempts; an emit buffered meanwhile reaches
// the outgoing listeners only once sent, after the namespace's connect
// handler.
func TestReconnectEvents(t *testing.T) {
	servers := []struct {
		name  string
		start func(t *testing.T, port int) *server
	}{{"gateway", startGateway}, {"reference", startReference}}
	for _, sv := range servers {
		t.Run(sv.name, func(t *testing.T) {
			srv := sv.start(t, 0)
			c := New(Options{
				Transports:           []string{"websocket"},
				ReconnectionDelay:    50 * time.Millisecond,
				ReconnectionDelayMax: 100 * time.Millisecond,
				Logger:               testLogger(),
			})
			shutdown(t, c)
			log := newEventLog()
			recordReconnects(c, log)
			if err := c.Register("/", &reconnectClass{name: "class", log: log}); err != nil {
				t.Fatal(err)
			}
			c.OnConnect(func() { log.add("connect") })
			c.OnAnyOutgoing(func(e *OutgoingEvent) { log.add("out:%s", e.Name) })
			if err := c.Connect(ctxTimeout(t, 15*time.Second), srv.url()); err != nil {
				t.Fatal(err)
			}
			log.untilEntry(t, "connect")

			srv.stop()
			got := log.untilEntry(t, "class error:true")
			if err := c.Emit("noop", 1); err != nil { // buffered
				t.Fatal(err)
			}
			got = append(got, log.untilEntry(t, "class error:true")...) // a second failed attempt
			srv.start()
			var client, class, sent bool
			got = append(got, log.until(t, "the reconnect events and the buffered emit", func(s string) bool {
				client = client || strings.HasPrefix(s, "client reconnect:")
				class = class || strings.HasPrefix(s, "class reconnect:")
				sent = sent || s == "out:noop"
				return client && class && sent
			})...)
			if n := checkAttempts(t, got, "client", "reconnect:%d"); n < 2 {
				t.Errorf("reconnected after %d attempts, want at least 2", n)
			}
			checkAttempts(t, got, "class", "reconnect:%d")
			if i, j := slices.Index(got, "connect"), slices.Index(got, "out:noop"); i < 0 || j < i {
				t.Errorf("the buffered emit reached the outgoing listener at %d, the connect handler ran at %d: %q", j, i, got)
			}
			if i, j := slices.Index(got, "connect"), slices.IndexFunc(got, func(s string) bool { return strings.HasPrefix(s, "client reconnect:") }); j < i {
				t.Errorf("reconnect ran before the connect handler: %q", got)
			}
		})
	}
}

// TestGatewayReconnectFailed stops the server for good: with
// ReconnectionAttempts 3, three attempts, each failed, then
// reconnect_failed, which reaches the Client's handler and the
// class-style values of "/" and of the catch-all namespace before Wait
// returns. With Options.Retry a first connection to a closed port goes
// the same way.
func TestGatewayReconnectFailed(t *testing.T) {
	srv := startGateway(t, 0)
	c := New(Options{
		Transports:           []string{"websocket"},
		ReconnectionAttempts: 3,
		ReconnectionDelay:    20 * time.Millisecond,
		ReconnectionDelayMax: 40 * time.Millisecond,
		RequestTimeout:       time.Second,
		Logger:               testLogger(),
	})
	shutdown(t, c)
	log := newEventLog()
	recordReconnects(c, log)
	for ns, name := range map[string]string{"/": "class", CatchAllNamespace: "wild"} {
		if err := c.Register(ns, &reconnectClass{name: name, log: log}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Connect(ctxTimeout(t, 10*time.Second), srv.url()); err != nil {
		t.Fatal(err)
	}
	srv.stop()
	waitDone(t, c) // gives up after three failed attempts
	if c.Connected() {
		t.Error("connected")
	}
	got := log.untilEntry(t, "class failed") // "*" sorts before "/"
	for _, who := range []string{"client", "class", "wild"} {
		if n := checkAttempts(t, got, who, "failed"); n != 3 {
			t.Errorf("%s: %d attempts, want 3", who, n)
		}
	}
	if want := []string{"client failed", "wild failed", "class failed"}; len(got) < 3 || !slices.Equal(got[len(got)-3:], want) {
		t.Errorf("the handlers of reconnect_failed ran as %q, want %q last", got, want)
	}

	// The first connection, retried.
	c2 := New(Options{
		Retry:                true,
		Transports:           []string{"websocket"},
		ReconnectionAttempts: 2,
		ReconnectionDelay:    20 * time.Millisecond,
		ReconnectionDelayMax: 20 * time.Millisecond,
		Logger:               testLogger(),
	})
	log2 := newEventLog()
	recordReconnects(c2, log2)
	if err := c2.Connect(ctxTimeout(t, 10*time.Second), srv.url()); err == nil {
		t.Fatal("Connect to a stopped server succeeded")
	}
	waitDone(t, c2)
	if n := checkAttempts(t, log2.untilEntry(t, "client failed"), "client", "failed"); n != 2 {
		t.Errorf("Retry: %d attempts, want 2", n)
	}
	select {
	case s := <-log2.ch:
		t.Errorf("unexpected %q after reconnect_failed", s)
	default:
	}
}

// TestGatewayAnyListeners covers OnAny, PrependAny, OffAny,
// OnAnyOutgoing, PrependAnyOutgoing and OffAnyOutgoing on the Client
// ("/"), a namespace and the catch-all namespace. Every listener runs on
// the handler goroutine, so the log has a fixed order: an emit's outgoing
// listeners, then the listeners of the answer, then its handler.
func TestGatewayAnyListeners(t *testing.T) {
	srv := startGateway(t, 0)
	c := New(Options{Namespaces: []string{"/", "/custom"}, Transports: []string{"websocket"}, Logger: testLogger()})
	shutdown(t, c)
	log := newEventLog()
	c.On("message-back", func(e *Event) []any { log.add("handler %s", e.Args.Raw(0)); return nil })
	removeA := c.OnAny(func(e *Event) { log.add("a %s", e.Name) })
	c.PrependAny(func(e *Event) { log.add("p %s", e.Name) })
	c.Of("/custom").OnAny(func(e *Event) { log.add("custom %s", e.Name) })
	c.Of(CatchAllNamespace).OnAny(func(e *Event) { log.add("* %s %s", e.Namespace, e.Name) })
	removeOut := c.OnAnyOutgoing(func(e *OutgoingEvent) {
		log.add("out %s %v %v", e.Name, e.Args, e.AckRequested)
	})
	c.PrependAnyOutgoing(func(e *OutgoingEvent) { log.add("pout %s", e.Name) })
	c.Of(CatchAllNamespace).OnAnyOutgoing(func(e *OutgoingEvent) { log.add("*out %s %s", e.Namespace, e.Name) })
	if err := c.Connect(ctxTimeout(t, 10*time.Second), srv.url()); err != nil {
		t.Fatal(err)
	}
	var custom, root []string
	for len(custom) < 2 || len(root) < 3 {
		s := waitFor(t, log.ch, "the listeners of the auth events")
		if strings.HasPrefix(s, "custom ") || strings.HasPrefix(s, "* /custom ") {
			custom = append(custom, s)
		} else {
			root = append(root, s)
		}
	}
	if want := []string{"custom auth", "* /custom auth"}; !slices.Equal(custom, want) {
		t.Errorf("/custom auth listeners ran as %q, want %q", custom, want)
	}
	if want := []string{"p auth", "a auth", "* / auth"}; !slices.Equal(root, want) {
		t.Errorf("/ auth listeners ran as %q, want %q", root, want)
	}

	check := func(what string, want ...string) {
		t.Helper()
		if got := log.untilEntry(t, want[len(want)-1]); !slices.Equal(got, want) {
			t.Errorf("%s: listeners ran as\n%q, want\n%q", what, got, want)
		}
	}
	if err := c.Emit("message", "e"); err != nil {
		t.Fatal(err)
	}
	check("Emit", "pout message", "out message [e] false", "*out / message",
		"p message-back", "a message-back", "* / message-back", `handler "e"`)
	if err := c.Send("s"); err != nil {
		t.Fatal(err)
	}
	check("Send", "pout message", "out message [s] false", "*out / message",
		"p message-back", "a message-back", "* / message-back", `handler "s"`)
	if args, err := c.EmitWithAck(ctxTimeout(t, 5*time.Second), "message-with-ack", "k"); err != nil || args.String(0) != "k" {
		t.Errorf("EmitWithAck = %s, %v", mustJSON(args), err)
	}
	check("EmitWithAck", "pout message-with-ack", "out message-with-ack [k] true", "*out / message-with-ack")
	err := c.Timeout(5*time.Second).EmitWithCallback(func(a Args, err error) { log.add("ack %s %v", a.String(0), err) }, "message-with-ack", "cb")
	if err != nil {
		t.Fatal(err)
	}
	check("EmitWithCallback", "pout message-with-ack", "out message-with-ack [cb] true", "*out / message-with-ack", "ack cb <nil>")
	if err := c.Of("/custom").Emit("nothing", 1); err != nil {
		t.Fatal(err)
	}
	check("Emit on /custom", "*out /custom nothing")

	// Removal: one listener, then all of a namespace.
	removeA()
	removeA() // a second call does nothing
	removeOut()
	if err := c.Emit("message", 1); err != nil {
		t.Fatal(err)
	}
	check("after removing a and out", "pout message", "*out / message",
		"p message-back", "* / message-back", "handler 1")
	c.OffAny()
	c.OffAnyOutgoing()
	c.Of(CatchAllNamespace).OffAnyOutgoing()
	if err := c.Emit("message", 2); err != nil {
		t.Fatal(err)
	}
	check("after OffAny and OffAnyOutgoing", "* / message-back", "handler 2")
	c.Of(CatchAllNamespace).OffAny()
	if err := c.Emit("message", 3); err != nil {
		t.Fatal(err)
	}
	check("with no listener left", "handler 3")
	if remove := c.OnAny(nil); remove == nil {
		t.Error("OnAny(nil) returned a nil remover")
	}
}

// sendNS is a class-style "/" whose NamespaceBase gives it Send.
type sendNS struct {
	NamespaceBase
	got chan string
}

func (n *sendNS) OnMessageBack(e *Event) { n.got <- e.Args.String(0) }

// TestGatewaySend checks Send, which emits "message", on the Client, a
// Namespace, an Emitter and a class-style namespace; the conformance
// server echoes it as "message-back".
func TestGatewaySend(t *testing.T) {
	srv := startGateway(t, 0)
	c := New(Options{Logger: testLogger()})
	shutdown(t, c)
	ns := &sendNS{got: make(chan string, 8)}
	if err := ns.Send("unbound"); !errors.Is(err, errUnbound) {
		t.Errorf("Send before Register = %v", err)
	}
	if err := c.Register("/", ns); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctxTimeout(t, 10*time.Second), srv.url()); err != nil {
		t.Fatal(err)
	}
	sends := []struct {
		name string
		send func(args ...any) error
	}{
		{"Client", c.Send},
		{"Namespace", c.Of("/").Send},
		{"Emitter", c.Volatile().Send},
		{"NamespaceBase", ns.Send},
	}
	for _, s := range sends {
		if err := s.send(s.name, 1); err != nil {
			t.Fatalf("%s.Send: %v", s.name, err)
		}
		if got := waitFor(t, ns.got, s.name+".Send's echo"); got != s.name {
			t.Errorf("%s.Send: echo %q", s.name, got)
		}
	}
}

// TestReferenceEmitterEmitWithAck covers the blocking EmitWithAck of an
// Emitter: with Retries (each try reaching the outgoing listeners), with
// Timeout, and on a client that is not connected (never buffered, even
// Volatile).
func TestReferenceEmitterEmitWithAck(t *testing.T) {
	srv := reference(t)
	c := New(Options{Transports: []string{"websocket"}, Logger: testLogger()})
	shutdown(t, c)
	tries := make(chan *OutgoingEvent, 8)
	c.OnAnyOutgoing(func(e *OutgoingEvent) {
		if e.Name == "retry-me" {
			tries <- e
		}
	})
	if err := c.Connect(ctxTimeout(t, 15*time.Second), srv.url()); err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
	args, err := c.Retries(3).Timeout(150*time.Millisecond).EmitWithAck(ctxTimeout(t, 5*time.Second), "retry-me", key, 2)
	if err != nil || string(args.Raw(0)) != "3" {
		t.Errorf("EmitWithAck with Retries = %s, %v", mustJSON(args), err)
	}
	for i := range 3 {
		if e := waitFor(t, tries, "a try"); !e.AckRequested || len(e.Args) != 2 || e.Args[0] != key {
			t.Errorf("try %d: %+v", i+1, e)
		}
	}
	start := time.Now()
	if _, err := c.Timeout(150*time.Millisecond).EmitWithAck(ctxTimeout(t, 5*time.Second), "ignore"); !isTimeout(err) || time.Since(start) > 3*time.Second {
		t.Errorf("EmitWithAck with Timeout = %v after %v", err, time.Since(start))
	}

	idle := New(Options{Logger: testLogger()})
	if _, err := idle.Volatile().EmitWithAck(ctxTimeout(t, time.Second), "echo"); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Volatile EmitWithAck while not connected = %v", err)
	}
	if _, err := idle.Retries(1).EmitWithAck(ctxTimeout(t, time.Second), "echo"); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Retries EmitWithAck while not connected = %v", err)
	}
	if err := idle.EmitWithCallback(nil, "echo"); err == nil {
		t.Error("EmitWithCallback with a nil callback succeeded")
	}
}
