package client

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Tests against the official socket.io 4.x server running
// js/fixtures/reference-server.mjs (see its header for the contract).

func TestReferenceEventsAndAcks(t *testing.T) {
	srv := reference(t)
	for _, m := range transportModes {
		t.Run(m.name, func(t *testing.T) {
			c := New(Options{
				Transports: m.transports,
				Auth:       map[string]any{"user": "go"},
				Headers:    http.Header{"X-Siogate-Test": {"h-" + m.name}},
				Logger:     testLogger(),
			})
			shutdown(t, c)
			rec := newRecorder()
			c.On("welcome", rec.handler())
			c.On("binary-back", rec.handler())
			c.On(CatchAll, rec.handler())
			c.On("question", func(e *Event) []any {
				return []any{"answer:" + e.Args.String(0), []byte{7, 8}}
			})
			if err := c.Connect(ctxTimeout(t, 15*time.Second), srv.url()); err != nil {
				t.Fatal(err)
			}

			// Server emits on connect.
			var welcome struct {
				SID    string
				Auth   map[string]string
				Header string
			}
			if err := rec.next(t, "welcome").Args.Decode(0, &welcome); err != nil {
				t.Fatal(err)
			}
			if welcome.SID != c.SID("/") || welcome.Auth["user"] != "go" || welcome.Header != "h-"+m.name {
				t.Errorf("welcome = %+v, sid %q", welcome, c.SID("/"))
			}

			// Echo with an acknowledgement (EmitWithAck) and without (catch-all).
			args, err := c.EmitWithAck(ctxTimeout(t, 5*time.Second), "echo", "text", 3, map[string]any{"a": []any{1, "b"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if args.Len() != 4 || args.String(0) != "text" || string(args.Raw(1)) != "3" ||
				!jsonEq(args.Raw(2), []byte(`{"a":[1,"b"]}`)) || string(args.Raw(3)) != "null" {
				t.Errorf("echo ack = %s", mustJSON(args))
			}
			if err := c.Emit("echo", "no-ack"); err != nil {
				t.Fatal(err)
			}
			if e := rec.next(t, "echo-back"); e.Args.String(0) != "no-ack" {
				t.Errorf("echo-back = %s (via catch-all)", mustJSON(e.Args))
			}

			// Binary both ways.
			blob := bytes.Repeat([]byte{1, 2, 3, 0}, 100)
			args, err = c.EmitWithAck(ctxTimeout(t, 5*time.Second), "binary", blob)
			if err != nil {
				t.Fatal(err)
			}
			var info struct {
				Size     int
				IsBuffer bool
			}
			if err := args.Decode(0, &info); err != nil || info.Size != len(blob) || !info.IsBuffer {
				t.Errorf("binary ack = %+v, %v", info, err)
			}
			var back []byte
			if err := rec.next(t, "binary-back").Args.Decode(0, &back); err != nil || !bytes.Equal(back, append(bytes.Clone(blob), 0xff)) {
				t.Errorf("binary-back = %d bytes, %v", len(back), err)
			}

			// The server's emitWithAck to the client: the handler's return
			// values (a binary one included) become the acknowledgement.
			args, err = c.EmitWithAck(ctxTimeout(t, 5*time.Second), "ask", "q1")
			if err != nil {
				t.Fatal(err)
			}
			if args.String(0) != "answer:q1" {
				t.Errorf("ask = %s", mustJSON(args))
			}

			// EmitWithAck callback.
			got := make(chan string, 1)
			if err := c.EmitWithCallback(func(a Args, err error) { got <- a.String(0) }, "echo", "cb"); err != nil {
				t.Fatal(err)
			}
			if s := waitFor(t, got, "ack callback"); s != "cb" {
				t.Errorf("callback got %q", s)
			}
			waitTransport(t, c, m.want)
		})
	}
}

func TestReferenceAdminNamespace(t *testing.T) {
	srv := reference(t)

	c := New(Options{Namespaces: []string{"/admin"}, Auth: map[string]string{"token": "nope"}, Logger: testLogger()})
	shutdown(t, c)
	refused := make(chan *ConnectError, 1)
	c.Of("/admin").OnConnectError(func(e *ConnectError) { refused <- e })
	err := c.Connect(ctxTimeout(t, 15*time.Second), srv.url())
	var ce *ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("Connect = %v, want a *ConnectError", err)
	}
	if ce.Namespace != "/admin" || ce.Message != "not authorized" || !jsonEq(ce.Data, []byte(`{"reason":"bad token","token":"nope"}`)) {
		t.Errorf("ConnectError = %+v (data %s)", ce, ce.Data)
	}
	if e := waitFor(t, refused, "connect_error handler"); e.Message != "not authorized" {
		t.Errorf("handler got %+v", e)
	}

	ok := New(Options{Namespaces: []string{"/admin"}, Auth: map[string]string{"token": "secret"}, Logger: testLogger()})
	shutdown(t, ok)
	if err := ok.Connect(ctxTimeout(t, 15*time.Second), srv.url()); err != nil {
		t.Fatal(err)
	}
	if ok.SID("/admin") == "" || ok.SID("/") != "" {
		t.Errorf("sids: /admin %q, / %q", ok.SID("/admin"), ok.SID("/"))
	}
	args, err := ok.Of("/admin").EmitWithAck(ctxTimeout(t, 5*time.Second), "echo", "hi")
	if err != nil || args.String(0) != "hi" {
		t.Errorf("echo on /admin = %s, %v", mustJSON(args), err)
	}
	if err := ok.Emit("echo", "x"); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Emit on unconnected / = %v", err)
	}
}

func TestReferenceServerDisconnect(t *testing.T) {
	srv := reference(t)
	c := New(Options{Transports: []string{"websocket"}, ReconnectionDelay: 50 * time.Millisecond, Logger: testLogger()})
	shutdown(t, c)
	connects := make(chan struct{}, 4)
	disconnected := make(chan DisconnectReason, 4)
	c.OnConnect(func() { connects <- struct{}{} })
	c.OnDisconnect(func(r DisconnectReason) { disconnected <- r })
	if err := c.Connect(ctxTimeout(t, 15*time.Second), srv.url()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, connects, "connect")
	if err := c.Emit("kick"); err != nil {
		t.Fatal(err)
	}
	if r := waitFor(t, disconnected, "disconnect"); r != ReasonServerDisconnect {
		t.Errorf("reason %q", r)
	}
	waitDone(t, c)
	select {
	case <-connects:
		t.Fatal("reconnected after a server-side disconnect")
	case <-time.After(300 * time.Millisecond):
	}
	// The client can connect again explicitly.
	if err := c.Connect(ctxTimeout(t, 15*time.Second), srv.url()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, connects, "second connect")
}

func TestReferenceEmitWithAckTimeout(t *testing.T) {
	srv := reference(t)
	c := New(Options{Logger: testLogger()})
	shutdown(t, c)
	if err := c.Connect(ctxTimeout(t, 15*time.Second), srv.url()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.EmitWithAck(ctx, "ignore", 1)
	var te *TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("EmitWithAck = %v, want a *TimeoutError", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Errorf("timed out after %v", d)
	}
	// A canceled context is not a timeout.
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := c.EmitWithAck(ctx2, "ignore"); !errors.Is(err, context.Canceled) {
		t.Errorf("EmitWithAck with a canceled context = %v", err)
	}
	// The connection is still usable.
	if args, err := c.EmitWithAck(ctxTimeout(t, 5*time.Second), "echo", "ok"); err != nil || args.String(0) != "ok" {
		t.Errorf("echo = %v, %v", args, err)
	}
}

// TestReferencePollingMaxPayload sends more than the server's maxPayload
// (20,000 bytes) at once over long-polling: the client must split it into
// several POSTs or the server closes the session.
func TestReferencePollingMaxPayload(t *testing.T) {
	srv := reference(t)
	c := New(Options{Transports: []string{"polling"}, Logger: testLogger()})
	shutdown(t, c)
	rec := newRecorder()
	c.On("echo-back", rec.handler())
	c.On("item", rec.handler())
	disconnected := make(chan DisconnectReason, 1)
	c.OnDisconnect(func(r DisconnectReason) { disconnected <- r })
	if err := c.Connect(ctxTimeout(t, 15*time.Second), srv.url()); err != nil {
		t.Fatal(err)
	}
	const n = 60
	payload := strings.Repeat("p", 1000)
	for i := range n {
		if err := c.Emit("echo", i, payload, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		e := rec.next(t, "echo-back")
		var got int
		var b []byte
		if err := e.Args.Decode(0, &got); err != nil || got != i || e.Args.String(1) != payload {
			t.Fatalf("echo-back #%d = %d, %v", i, got, err)
		}
		if err := e.Args.Decode(2, &b); err != nil || len(b) != 1 || b[0] != byte(i) {
			t.Fatalf("echo-back #%d binary = %v, %v", i, b, err)
		}
	}
	select {
	case r := <-disconnected:
		t.Fatalf("disconnected: %s", r)
	default:
	}
	// And the other way: a burst larger than maxPayload from the server.
	if err := c.Emit("burst", 30, 2000); err != nil {
		t.Fatal(err)
	}
	for range 30 {
		if e := rec.next(t, "item"); len(e.Args.String(1)) != 2000 {
			t.Fatal("short item")
		}
	}
}

func TestReferenceSimpleClient(t *testing.T) {
	srv := reference(t)
	for _, m := range transportModes {
		t.Run(m.name, func(t *testing.T) {
			c := NewSimpleClient(Options{Transports: m.transports, Logger: testLogger()})
			defer c.Close()
			if _, err := c.Receive(10 * time.Millisecond); !errors.Is(err, ErrNotConnected) {
				t.Errorf("Receive before Connect = %v", err)
			}
			if err := c.Connect(ctxTimeout(t, 15*time.Second), srv.url(), ""); err != nil {
				t.Fatal(err)
			}
			ev, err := c.Receive(5 * time.Second)
			if err != nil || ev.Name != "welcome" {
				t.Fatalf("Receive = %+v, %v", ev, err)
			}
			if err := c.Emit("echo", "one", []byte("two")); err != nil {
				t.Fatal(err)
			}
			ev, err = c.Receive(5 * time.Second)
			var two []byte
			if err != nil || ev.Name != "echo-back" || ev.Args.String(0) != "one" || ev.Args.Decode(1, &two) != nil || string(two) != "two" {
				t.Fatalf("Receive = %+v, %v", ev, err)
			}
			args, err := c.Call(5*time.Second, "echo", 1, 2)
			if err != nil || args.Len() != 2 {
				t.Fatalf("Call = %v, %v", args, err)
			}
			if _, err := c.Call(200*time.Millisecond, "ignore"); !isTimeout(err) {
				t.Errorf("Call(ignore) = %v, want a timeout", err)
			}
			start := time.Now()
			if _, err := c.Receive(200 * time.Millisecond); !isTimeout(err) {
				t.Errorf("Receive on a quiet connection = %v", err)
			}
			if d := time.Since(start); d < 150*time.Millisecond || d > 3*time.Second {
				t.Errorf("Receive timed out after %v", d)
			}
			if c.SID() == "" {
				t.Error("no sid")
			}
			waitTransport(t, c, m.want)
			if err := c.Disconnect(); err != nil {
				t.Fatal(err)
			}
			if c.SID() != "" || c.Transport() != "" {
				t.Error("still connected")
			}
		})
	}
}

func waitDone(t *testing.T, c *Client) {
	t.Helper()
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	waitFor(t, done, "Wait to return")
}

func mustJSON(a Args) string {
	b, err := a.MarshalJSON()
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func TestReferenceReconnect(t *testing.T) {
	srv := startReference(t, 0)
	c := New(Options{ReconnectionDelay: 100 * time.Millisecond, ReconnectionDelayMax: 300 * time.Millisecond, Logger: testLogger()})
	shutdown(t, c)
	connects := make(chan string, 4)
	disconnected := make(chan DisconnectReason, 4)
	c.OnConnect(func() { connects <- c.SID("/") })
	c.OnDisconnect(func(r DisconnectReason) { disconnected <- r })
	if err := c.Connect(ctxTimeout(t, 15*time.Second), srv.url()); err != nil {
		t.Fatal(err)
	}
	sid1 := waitFor(t, connects, "connect")
	waitTransport(t, c, "websocket")
	srv.stop()
	waitFor(t, disconnected, "disconnect")
	srv.start()
	sid2 := waitFor(t, connects, "reconnect")
	if sid2 == sid1 {
		t.Error("same sid after reconnecting")
	}
	if args, err := c.EmitWithAck(ctxTimeout(t, 5*time.Second), "echo", "back"); err != nil || args.String(0) != "back" {
		t.Errorf("echo after reconnect = %v, %v", args, err)
	}
	waitTransport(t, c, "websocket")

	// Shutdown while the server is gone stops the reconnection loop.
	srv.stop()
	waitFor(t, disconnected, "second disconnect")
	c.Shutdown()
	waitDone(t, c)
	srv.start()
	select {
	case <-connects:
		t.Fatal("reconnected after Shutdown")
	case <-time.After(600 * time.Millisecond):
	}
}

func TestReferenceWaitTimeout(t *testing.T) {
	srv := reference(t)
	c := New(Options{Namespaces: []string{"/", "/slow"}, WaitTimeout: 300 * time.Millisecond, Logger: testLogger()})
	shutdown(t, c)
	start := time.Now()
	err := c.Connect(ctxTimeout(t, 10*time.Second), srv.url())
	if !isTimeout(err) {
		t.Fatalf("Connect = %v, want a *TimeoutError", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Connect returned after %v", d)
	}
	if c.Connected() {
		t.Error("connected after a timeout")
	}
	waitDone(t, c)
	// A canceled context aborts Connect too.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	c2 := New(Options{Namespaces: []string{"/slow"}, Logger: testLogger()})
	shutdown(t, c2)
	if err := c2.Connect(ctx, srv.url()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Connect with a short context = %v", err)
	}
}

// TestReferenceEmitWithAckFromHandler checks that a handler may block on
// EmitWithAck: acknowledgements are not delivered through the handler
// goroutine.
func TestReferenceEmitWithAckFromHandler(t *testing.T) {
	srv := reference(t)
	c := New(Options{Transports: []string{"websocket"}, Logger: testLogger()})
	shutdown(t, c)
	inner := make(chan string, 1)
	c.On("echo-back", func(e *Event) []any {
		args, err := c.EmitWithAck(ctxTimeout(t, 5*time.Second), "echo", "inner:"+e.Args.String(0))
		if err != nil {
			inner <- err.Error()
		} else {
			inner <- args.String(0)
		}
		return nil
	})
	if err := c.Connect(ctxTimeout(t, 15*time.Second), srv.url()); err != nil {
		t.Fatal(err)
	}
	if err := c.Emit("echo", "outer"); err != nil {
		t.Fatal(err)
	}
	if got := waitFor(t, inner, "nested EmitWithAck"); got != "inner:outer" {
		t.Errorf("nested EmitWithAck = %q", got)
	}
}
