package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// Tests against the siogate gateway's conformance example (a child
// process): namespaces "/" and "/custom", "auth" emitted on connect with
// the auth payload, "message" echoed as "message-back", "message-with-ack"
// acknowledged with its arguments; pingInterval 300ms, pingTimeout 200ms.

func TestGatewayTransports(t *testing.T) {
	srv := startGateway(t, 0)
	for _, m := range transportModes {
		t.Run(m.name, func(t *testing.T) {
			c := New(Options{Transports: m.transports, Auth: map[string]any{"token": "abc"}, Logger: testLogger()})
			shutdown(t, c)
			rec := newRecorder()
			c.On("auth", rec.handler())
			c.On("message-back", rec.handler())
			disconnected := make(chan DisconnectReason, 1)
			c.OnDisconnect(func(r DisconnectReason) { disconnected <- r })
			if err := c.Connect(ctxTimeout(t, 10*time.Second), srv.url()); err != nil {
				t.Fatal(err)
			}
			sid := c.SID("/")
			if sid == "" {
				t.Fatal("no sid for /")
			}

			e := rec.next(t, "auth")
			if got := string(e.Args.Raw(0)); got != `{"token":"abc"}` {
				t.Errorf("auth event = %s", got)
			}

			// Text and binary events, server to client and back.
			if err := c.Emit("message", "hello", 42, map[string]any{"k": []any{true, nil}}); err != nil {
				t.Fatal(err)
			}
			e = rec.next(t, "message-back")
			if e.Args.String(0) != "hello" || string(e.Args.Raw(1)) != "42" || string(e.Args.Raw(2)) != `{"k":[true,null]}` {
				t.Errorf("message-back args = %s %s %s", e.Args.Raw(0), e.Args.Raw(1), e.Args.Raw(2))
			}
			blob := []byte{0, 1, 2, 0xfe, 0xff}
			if err := c.Emit("message", blob, map[string]any{"nested": []byte("xyz")}); err != nil {
				t.Fatal(err)
			}
			e = rec.next(t, "message-back")
			var gotBlob []byte
			var nested struct{ Nested []byte }
			if err := e.Args.Decode(0, &gotBlob); err != nil || !bytes.Equal(gotBlob, blob) {
				t.Errorf("binary message-back = %v, %v", gotBlob, err)
			}
			if err := e.Args.Decode(1, &nested); err != nil || string(nested.Nested) != "xyz" {
				t.Errorf("nested binary = %q, %v", nested.Nested, err)
			}

			// Acknowledgements from the server, with binary.
			args, err := c.EmitWithAck(ctxTimeout(t, 5*time.Second), "message-with-ack", "a", 1.5, blob)
			if err != nil {
				t.Fatal(err)
			}
			if err := args.Decode(2, &gotBlob); err != nil || args.String(0) != "a" || string(args.Raw(1)) != "1.5" || !bytes.Equal(gotBlob, blob) {
				t.Errorf("ack = %d args (%s, %s), blob %v, %v", args.Len(), args.Raw(0), args.Raw(1), gotBlob, err)
			}

			waitTransport(t, c, m.want)
			// Outlive several ping intervals: the client must answer pings.
			time.Sleep(1200 * time.Millisecond)
			if c.SID("/") != sid || c.Transport() != m.want {
				t.Fatalf("after 1.2s: sid %q (was %q), transport %q", c.SID("/"), sid, c.Transport())
			}
			acked := make(chan []any, 1)
			err = c.EmitWithCallback(func(a Args, err error) {
				v, _ := a.Values()
				acked <- append(v, err)
			}, "message-with-ack", "still here")
			if err != nil {
				t.Fatal(err)
			}
			if v := waitFor(t, acked, "ack"); len(v) != 2 || v[0] != "still here" || v[1] != nil {
				t.Errorf("ack after heartbeat = %v", v)
			}

			if err := c.Disconnect(); err != nil {
				t.Fatal(err)
			}
			if r := waitFor(t, disconnected, "disconnect"); r != ReasonClientDisconnect {
				t.Errorf("disconnect reason %q", r)
			}
			c.Wait()
			if c.Connected() || c.Transport() != "" || c.SID("/") != "" {
				t.Error("still connected after Disconnect")
			}
		})
	}
}

func TestGatewayNamespacesAndAuthFunc(t *testing.T) {
	srv := startGateway(t, 0)
	var n atomic.Int32
	c := New(Options{
		Namespaces: []string{"/", "custom"},
		AuthFunc:   func() any { return map[string]int32{"n": n.Add(1)} },
		Logger:     testLogger(),
	})
	shutdown(t, c)
	root, custom := newRecorder(), newRecorder()
	c.On("auth", root.handler())
	c.Of("/custom").On("auth", custom.handler())
	if err := c.Connect(ctxTimeout(t, 10*time.Second), srv.url()); err != nil {
		t.Fatal(err)
	}
	if a, b := c.SID("/"), c.SID("/custom"); a == "" || b == "" || a == b {
		t.Errorf("sids %q and %q", a, b)
	}
	if got := string(root.next(t, "auth").Args.Raw(0)); got != `{"n":1}` {
		t.Errorf("auth on / = %s", got)
	}
	if got := string(custom.next(t, "auth").Args.Raw(0)); got != `{"n":1}` {
		t.Errorf("auth on /custom = %s", got)
	}
	if c.Of("/custom").SID() != c.SID("/custom") {
		t.Error("Namespace.SID differs")
	}
}

func TestGatewayUnknownNamespace(t *testing.T) {
	srv := startGateway(t, 0)
	c := New(Options{Namespaces: []string{"/nope"}, Transports: []string{"websocket"}, Logger: testLogger()})
	shutdown(t, c)
	refused := make(chan *ConnectError, 1)
	c.Of("/nope").OnConnectError(func(e *ConnectError) { refused <- e })
	err := c.Connect(ctxTimeout(t, 10*time.Second), srv.url())
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Namespace != "/nope" || ce.Message == "" {
		t.Fatalf("Connect = %v, want a ConnectError for /nope", err)
	}
	if e := waitFor(t, refused, "connect_error handler"); e.Message != ce.Message {
		t.Errorf("handler got %q", e.Message)
	}
	if c.Connected() {
		t.Error("connected after refusal")
	}
}

func TestGatewayReconnect(t *testing.T) {
	for _, m := range transportModes[:2] {
		t.Run(m.name, func(t *testing.T) {
			srv := startGateway(t, 0)
			var n atomic.Int32
			c := New(Options{
				Transports:           m.transports,
				AuthFunc:             func() any { return map[string]int32{"attempt": n.Add(1)} },
				ReconnectionDelay:    50 * time.Millisecond,
				ReconnectionDelayMax: 200 * time.Millisecond,
				Logger:               testLogger(),
			})
			shutdown(t, c)
			connected := make(chan string, 4)
			disconnected := make(chan DisconnectReason, 4)
			rec := newRecorder()
			c.OnConnect(func() { connected <- c.SID("/") })
			c.OnDisconnect(func(r DisconnectReason) { disconnected <- r })
			c.On("auth", rec.handler())
			if err := c.Connect(ctxTimeout(t, 10*time.Second), srv.url()); err != nil {
				t.Fatal(err)
			}
			sid1 := waitFor(t, connected, "first connect")
			rec.next(t, "auth")

			srv.stop()
			r := waitFor(t, disconnected, "disconnect after kill")
			switch r {
			case ReasonTransportClose, ReasonTransportError, ReasonPingTimeout:
			default:
				t.Errorf("disconnect reason %q", r)
			}
			if _, err := c.EmitWithAck(ctxTimeout(t, time.Second), "message-with-ack", 1); !errors.Is(err, ErrNotConnected) {
				t.Errorf("EmitWithAck while disconnected = %v", err)
			}
			time.Sleep(300 * time.Millisecond) // let some attempts fail
			srv.start()

			sid2 := waitFor(t, connected, "reconnect")
			if sid2 == "" || sid2 == sid1 {
				t.Errorf("sids %q then %q", sid1, sid2)
			}
			var auth struct{ Attempt int32 }
			if err := rec.next(t, "auth").Args.Decode(0, &auth); err != nil || auth.Attempt < 2 {
				t.Errorf("auth after reconnect = %+v, %v (AuthFunc must be re-evaluated)", auth, err)
			}
			args, err := c.EmitWithAck(ctxTimeout(t, 5*time.Second), "message-with-ack", "again")
			if err != nil || args.String(0) != "again" {
				t.Fatalf("EmitWithAck after reconnect = %v, %v", args, err)
			}
			waitTransport(t, c, m.want)
		})
	}
}

func TestGatewaySimpleClient(t *testing.T) {
	srv := startGateway(t, 0)
	c := NewSimpleClient(Options{Auth: map[string]string{"user": "s"}, Logger: testLogger()})
	defer c.Close()
	if err := c.Connect(ctxTimeout(t, 10*time.Second), srv.url(), "/custom"); err != nil {
		t.Fatal(err)
	}
	ev, err := c.Receive(5 * time.Second)
	if err != nil || ev.Name != "auth" {
		t.Fatalf("Receive = %+v, %v", ev, err)
	}
	var auth map[string]string
	if err := ev.Args.Decode(0, &auth); err != nil || auth["user"] != "s" {
		t.Errorf("auth = %v, %v", auth, err)
	}
	if _, err := c.Receive(200 * time.Millisecond); !isTimeout(err) {
		t.Errorf("Receive on a quiet namespace = %v, want a timeout", err)
	}
	if c.SID() == "" {
		t.Error("no sid")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Receive(time.Second); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Receive after Close = %v", err)
	}
}

func isTimeout(err error) bool {
	var te *TimeoutError
	return errors.As(err, &te)
}

// jsonEq compares two JSON texts semantically.
func jsonEq(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func TestGatewayDisableReconnection(t *testing.T) {
	srv := startGateway(t, 0)
	c := New(Options{DisableReconnection: true, Logger: testLogger()})
	shutdown(t, c)
	disconnected := make(chan DisconnectReason, 1)
	c.OnDisconnect(func(r DisconnectReason) { disconnected <- r })
	if err := c.Connect(ctxTimeout(t, 10*time.Second), srv.url()); err != nil {
		t.Fatal(err)
	}
	srv.stop()
	waitFor(t, disconnected, "disconnect")
	waitDone(t, c)
	if err := c.Disconnect(); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Disconnect when disconnected = %v", err)
	}
}
