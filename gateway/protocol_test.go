package gateway_test

// Black-box tests of the Socket.IO v5 server, written from the protocol
// specification (docs/socket.io-protocol/v5-current.md), over real sockets
// and both Engine.IO transports. Packets are written and checked in their
// Engine.IO text form ("40", `42["event"]`, ...).

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/engineio"
	"github.com/siogate/siogate/protocol/socketio"
)

const waitFor = 5 * time.Second

var transports = []string{"websocket", "polling"}

// ---------------------------------------------------------------------------
// Server helpers.

type testServer struct {
	srv *gateway.Server
	ts  *httptest.Server
}

func newSIO(t testing.TB, cfg gateway.Config) *testServer {
	t.Helper()
	srv := gateway.NewServer(cfg)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ts.Close()
	})
	return &testServer{srv: srv, ts: ts}
}

func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("timed out after %v waiting for %s", waitFor, what)
	}
	var zero T
	return zero
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitFor, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// Client: an Engine.IO client on either transport that answers pings and
// delivers message packets (text with their leading "4", binary raw).

type frame struct {
	data   []byte
	binary bool
}

func (f frame) String() string {
	if f.binary {
		return fmt.Sprintf("binary %x", f.data)
	}
	return string(f.data)
}

type client struct {
	transport string
	sid       string // Engine.IO session id
	noPong    bool
	msgs      chan frame
	done      chan struct{}
	doneOnce  sync.Once

	ws       *gws.Conn
	closeErr atomic.Pointer[error] // why the WebSocket closed

	hc     *http.Client
	url    string
	postMu sync.Mutex
	cancel context.CancelFunc
	loop   chan struct{} // closed when the polling loop exits
}

type dialOpts struct {
	noPong bool
	hc     *http.Client
}

var defaultHTTP = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

func (ts *testServer) base() string { return ts.ts.URL + "/socket.io/?EIO=4" }

// dial opens an Engine.IO session; the caller then sends "40".
func (ts *testServer) dial(t testing.TB, transport string) *client {
	t.Helper()
	c, err := ts.dialErr(transport, dialOpts{})
	if err != nil {
		t.Fatalf("dial %s: %v", transport, err)
	}
	t.Cleanup(c.close)
	return c
}

func (ts *testServer) dialOpt(t testing.TB, transport string, o dialOpts) *client {
	t.Helper()
	c, err := ts.dialErr(transport, o)
	if err != nil {
		t.Fatalf("dial %s: %v", transport, err)
	}
	t.Cleanup(c.close)
	return c
}

func (ts *testServer) dialErr(transport string, o dialOpts) (*client, error) {
	c := &client{transport: transport, noPong: o.noPong, msgs: make(chan frame, 4096), done: make(chan struct{})}
	if transport == "websocket" {
		addr := "ws" + strings.TrimPrefix(ts.base(), "http") + "&transport=websocket"
		conn, _, err := gws.NewClient(clientEvents{c}, &gws.ClientOption{Addr: addr, HandshakeTimeout: waitFor})
		if err != nil {
			return nil, err
		}
		c.ws = conn
		go conn.ReadLoop()
		f, err := c.nextErr(waitFor)
		if err != nil {
			c.close()
			return nil, err
		}
		sid, err := openSID(f.data)
		if err != nil {
			c.close()
			return nil, err
		}
		c.sid = sid
		return c, nil
	}
	c.hc = o.hc
	if c.hc == nil {
		c.hc = defaultHTTP
	}
	resp, err := c.hc.Get(ts.base() + "&transport=polling")
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		return nil, fmt.Errorf("polling handshake: HTTP %d %q %v", resp.StatusCode, body, err)
	}
	sid, err := openSID(body)
	if err != nil {
		return nil, err
	}
	c.sid = sid
	c.url = ts.base() + "&transport=polling&sid=" + sid
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.loop = make(chan struct{})
	go c.pollLoop(ctx)
	return c, nil
}

func openSID(b []byte) (string, error) {
	if len(b) == 0 || b[0] != '0' {
		return "", fmt.Errorf("want an open packet, got %q", b)
	}
	var hs struct{ SID string }
	if err := json.Unmarshal(b[1:], &hs); err != nil || hs.SID == "" {
		return "", fmt.Errorf("bad open packet %q", b)
	}
	return hs.SID, nil
}

func (c *client) finish() { c.doneOnce.Do(func() { close(c.done) }) }

// deliver handles one Engine.IO packet from the server.
func (c *client) deliver(f frame) {
	if !f.binary && len(f.data) > 0 {
		switch f.data[0] {
		case '2':
			if !c.noPong {
				_ = c.sendRaw(frame{data: []byte("3")})
			}
			return
		case '6', '3':
			return
		case '1':
			c.finish()
			return
		}
	}
	select {
	case c.msgs <- f:
	case <-time.After(waitFor):
	}
}

type clientEvents struct{ c *client }

func (clientEvents) OnOpen(*gws.Conn) {}
func (e clientEvents) OnClose(_ *gws.Conn, err error) {
	e.c.closeErr.Store(&err)
	e.c.finish()
}
func (clientEvents) OnPing(c *gws.Conn, payload []byte) { _ = c.WritePong(payload) }
func (clientEvents) OnPong(*gws.Conn, []byte)           {}
func (e clientEvents) OnMessage(_ *gws.Conn, m *gws.Message) {
	f := frame{data: bytes.Clone(m.Bytes()), binary: m.Opcode == gws.OpcodeBinary}
	_ = m.Close()
	if e.c.sid == "" && !f.binary && len(f.data) > 0 && f.data[0] == '0' {
		e.c.msgs <- f // the handshake, read by dialErr
		return
	}
	e.c.deliver(f)
}

func (c *client) pollLoop(ctx context.Context) {
	defer close(c.loop)
	defer c.finish()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
		resp, err := c.hc.Do(req)
		if err != nil {
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			return
		}
		for _, rec := range bytes.Split(body, []byte{0x1e}) {
			if len(rec) > 0 && rec[0] == 'b' {
				data, err := base64.StdEncoding.DecodeString(string(rec[1:]))
				if err != nil {
					return
				}
				c.deliver(frame{data: data, binary: true})
				continue
			}
			c.deliver(frame{data: rec})
			if len(rec) > 0 && rec[0] == '1' {
				return
			}
		}
	}
}

func (c *client) sendRaw(f frame) error {
	if c.ws != nil {
		op := gws.OpcodeText
		if f.binary {
			op = gws.OpcodeBinary
		}
		return c.ws.WriteMessage(op, f.data)
	}
	body := f.data
	if f.binary {
		body = append([]byte("b"), base64.StdEncoding.EncodeToString(f.data)...)
	}
	c.postMu.Lock()
	defer c.postMu.Unlock()
	resp, err := c.hc.Post(c.url, "text/plain;charset=UTF-8", bytes.NewReader(body))
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("POST %q: HTTP %d %q", body, resp.StatusCode, b)
	}
	return nil
}

func (c *client) send(t testing.TB, text string) {
	t.Helper()
	if err := c.sendRaw(frame{data: []byte(text)}); err != nil {
		t.Fatalf("send %q: %v", text, err)
	}
}

func (c *client) sendBin(t testing.TB, data []byte) {
	t.Helper()
	if err := c.sendRaw(frame{data: data, binary: true}); err != nil {
		t.Fatalf("send binary: %v", err)
	}
}

// close drops the connection the way a client going away does: the
// WebSocket is closed, or a polling client sends a close packet.
func (c *client) close() {
	if c.ws != nil {
		_ = c.ws.NetConn().Close()
		return
	}
	if c.cancel != nil {
		select {
		case <-c.done:
		default:
			_ = c.sendRaw(frame{data: []byte("1")})
		}
		c.cancel()
		<-c.loop
	}
}

func (c *client) nextErr(timeout time.Duration) (frame, error) {
	select {
	case f := <-c.msgs:
		return f, nil
	default:
	}
	select {
	case f := <-c.msgs:
		return f, nil
	case <-c.done:
		select {
		case f := <-c.msgs:
			return f, nil
		default:
		}
		return frame{}, errors.New("connection closed while a packet was expected")
	case <-time.After(timeout):
		return frame{}, fmt.Errorf("no packet within %v", timeout)
	}
}

func (c *client) next(t testing.TB) frame {
	t.Helper()
	f, err := c.nextErr(waitFor)
	if err != nil {
		t.Fatalf("%s client: %v", c.transport, err)
	}
	return f
}

func (c *client) expect(t testing.TB, want string) {
	t.Helper()
	if f := c.next(t); f.binary || string(f.data) != want {
		t.Fatalf("%s client: got %s, want %s", c.transport, f, want)
	}
}

func (c *client) expectBin(t testing.TB, want []byte) {
	t.Helper()
	if f := c.next(t); !f.binary || !bytes.Equal(f.data, want) {
		t.Fatalf("%s client: got %s, want binary %x", c.transport, f, want)
	}
}

func (c *client) expectClosed(t testing.TB) {
	t.Helper()
	timeout := time.After(waitFor)
	for {
		select {
		case <-c.done:
			return
		case <-c.msgs:
		case <-timeout:
			t.Fatalf("%s client: connection not closed within %v", c.transport, waitFor)
		}
	}
}

// connect sends a CONNECT for nsp (with auth when not empty) and returns
// the socket id from the answer, checking it has exactly the key sid.
func (c *client) connect(t testing.TB, nsp, auth string) string {
	t.Helper()
	c.send(t, connectPacket(nsp, auth))
	return c.expectConnect(t, nsp)
}

func connectPacket(nsp, auth string) string {
	p := "40"
	if nsp != "/" {
		p += nsp + ","
	}
	return p + auth
}

func (c *client) expectConnect(t testing.TB, nsp string) string {
	t.Helper()
	f := c.next(t)
	prefix := "40"
	if nsp != "/" {
		prefix += nsp + ","
	}
	if f.binary || !strings.HasPrefix(string(f.data), prefix+"{") {
		t.Fatalf("CONNECT answer: got %s, want %s{\"sid\":...}", f, prefix)
	}
	var m map[string]any
	if err := json.Unmarshal(f.data[len(prefix):], &m); err != nil {
		t.Fatalf("CONNECT answer %s: %v", f, err)
	}
	sid, ok := m["sid"].(string)
	if !ok || sid == "" || len(m) != 1 {
		t.Fatalf("CONNECT answer %s: want exactly a string sid", f)
	}
	if sid == c.sid {
		t.Fatalf("socket sid %q equals the Engine.IO sid", sid)
	}
	return sid
}

// nextEvent reads an EVENT and returns its ack id (-1 when none) and
// JSON array payload.
func (c *client) nextEvent(t testing.TB) (int64, string) {
	t.Helper()
	f := c.next(t)
	if f.binary || len(f.data) < 2 || f.data[0] != '4' {
		t.Fatalf("want an EVENT, got %s", f)
	}
	p, _, err := socketio.Parse(f.data[1:])
	if err != nil || p.Type != socketio.Event {
		t.Fatalf("want an EVENT, got %s (%v)", f, err)
	}
	if !p.HasID {
		return -1, string(p.Data)
	}
	return int64(p.ID), string(p.Data)
}

func sameJSON(t testing.TB, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("bad JSON %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad JSON %q: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// ---------------------------------------------------------------------------
// Protocol tests, on both transports.

func TestSocketIO(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Run("connect", func(t *testing.T) { testConnect(t, tr) })
			t.Run("connect errors", func(t *testing.T) { testConnectErrors(t, tr) })
			t.Run("invalid packets", func(t *testing.T) { testInvalidPackets(t, tr) })
			t.Run("events and acks", func(t *testing.T) { testEvents(t, tr) })
			t.Run("broadcasts", func(t *testing.T) { testBroadcasts(t, tr) })
			t.Run("server acks", func(t *testing.T) { testServerAcks(t, tr) })
			t.Run("rooms", func(t *testing.T) { testRooms(t, tr) })
			t.Run("operator", func(t *testing.T) { testOperator(t, tr) })
			t.Run("disconnect reasons", func(t *testing.T) { testDisconnectReasons(t, tr) })
			t.Run("robustness", func(t *testing.T) { testRobustness(t, tr) })
		})
	}
	t.Run("polling/volatile dropped", testVolatileDropped)
}

func testConnect(t *testing.T, tr string) {
	t.Run("main namespace without auth", func(t *testing.T) {
		ts := newSIO(t, gateway.Config{})
		socks := make(chan *gateway.Socket, 1)
		ts.srv.Of("/").OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
			socks <- s
			return nil
		})
		c := ts.dial(t, tr)
		sid := c.connect(t, "/", "")
		s := recv(t, socks, "connect handler")
		if s.ID() != sid || s.ConnID() != c.sid || string(s.Auth()) != "{}" {
			t.Fatalf("socket id %q conn %q auth %s; want %q, %q, {}", s.ID(), s.ConnID(), s.Auth(), sid, c.sid)
		}
		if s.Transport() != tr {
			t.Fatalf("Transport() = %q", s.Transport())
		}
	})
	t.Run("main namespace with auth", func(t *testing.T) {
		ts := newSIO(t, gateway.Config{})
		auths := make(chan string, 1)
		ts.srv.Of("/").OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
			auths <- string(auth)
			return nil
		})
		c := ts.dial(t, tr)
		c.connect(t, "/", `{"token":"abc"}`)
		sameJSON(t, recv(t, auths, "auth"), `{"token":"abc"}`)
	})
	t.Run("custom namespace with and without auth", func(t *testing.T) {
		ts := newSIO(t, gateway.Config{})
		auths := make(chan string, 2)
		ts.srv.Of("/custom").OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
			auths <- s.Namespace().Name() + " " + string(auth)
			return nil
		})
		c := ts.dial(t, tr)
		b := c.connect(t, "/custom", "")
		if got := recv(t, auths, "auth"); got != "/custom {}" {
			t.Fatalf("handler saw %q", got)
		}
		c2 := ts.dial(t, tr)
		c2.connect(t, "/custom", `{"a":1}`)
		if got := recv(t, auths, "auth"); got != `/custom {"a":1}` {
			t.Fatalf("handler saw %q", got)
		}
		// Several namespaces over one connection, with distinct sids.
		if a := c.connect(t, "/", ""); a == b {
			t.Fatalf("same socket sid %q in two namespaces", a)
		}
	})
	t.Run("unknown namespace", func(t *testing.T) {
		ts := newSIO(t, gateway.Config{})
		c := ts.dial(t, tr)
		c.send(t, "40/random,")
		c.expect(t, `44/random,{"message":"Invalid namespace"}`)
		c.connect(t, "/", "") // still usable
	})
	t.Run("Namespaces star", func(t *testing.T) {
		ts := newSIO(t, gateway.Config{Namespaces: []string{"*"}})
		c := ts.dial(t, tr)
		c.connect(t, "/anything", "")
		c.connect(t, "/other", `{"x":1}`)
	})
	t.Run("Namespaces list", func(t *testing.T) {
		ts := newSIO(t, gateway.Config{Namespaces: []string{"/listed"}})
		c := ts.dial(t, tr)
		c.connect(t, "/listed", "")
		c.send(t, "40/unlisted,")
		c.expect(t, `44/unlisted,{"message":"Invalid namespace"}`)
	})
	t.Run("catch-all namespace", func(t *testing.T) {
		ts := newSIO(t, gateway.Config{})
		names := make(chan string, 1)
		ts.srv.Of("*").OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
			names <- s.Namespace().Name()
			return nil
		})
		ts.srv.Of("*").On("where", func(s *gateway.Socket, e *gateway.Event) []any {
			return []any{s.Namespace().Name()}
		})
		c := ts.dial(t, tr)
		c.connect(t, "/dyn", "")
		if n := recv(t, names, "catch-all connect handler"); n != "/dyn" {
			t.Fatalf("namespace %q", n)
		}
		c.send(t, `42/dyn,5["where"]`)
		c.expect(t, `43/dyn,5["/dyn"]`)
	})
	t.Run("connect handler emits arrive after the answer", func(t *testing.T) {
		ts := newSIO(t, gateway.Config{})
		ts.srv.Of("/").OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
			if err := s.Emit("hello", "world"); err != nil {
				return err
			}
			return s.Emit("second", 2)
		})
		c := ts.dial(t, tr)
		c.connect(t, "/", "")
		c.expect(t, `42["hello","world"]`)
		c.expect(t, `42["second",2]`)
	})
}

func testConnectErrors(t *testing.T, tr string) {
	t.Run("plain error", func(t *testing.T) {
		ts := newSIO(t, gateway.Config{})
		disc := make(chan gateway.DisconnectReason, 1)
		ts.srv.Of("/").OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
			if string(auth) == `{"ok":true}` {
				return nil
			}
			return errors.New("not authorized")
		})
		ts.srv.Of("/").OnDisconnect(func(s *gateway.Socket, r gateway.DisconnectReason) { disc <- r })
		c := ts.dial(t, tr)
		c.send(t, "40")
		c.expect(t, `44{"message":"not authorized"}`)
		if n := ts.srv.Of("/").Count(); n != 0 {
			t.Fatalf("%d sockets after refusal", n)
		}
		c.connect(t, "/", `{"ok":true}`) // the connection stays usable
		select {
		case r := <-disc:
			t.Fatalf("disconnect handler ran (%q) for a refused socket", r)
		default:
		}
	})
	t.Run("ConnectError with data", func(t *testing.T) {
		ts := newSIO(t, gateway.Config{})
		ts.srv.Of("/x").OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
			return &gateway.ConnectError{Message: "bad token", Data: map[string]any{"code": 42}}
		})
		c := ts.dial(t, tr)
		c.send(t, "40/x,")
		f := c.next(t)
		if !strings.HasPrefix(string(f.data), "44/x,") {
			t.Fatalf("got %s, want 44/x,{...}", f)
		}
		sameJSON(t, string(f.data[len("44/x,"):]), `{"message":"bad token","data":{"code":42}}`)
	})
	t.Run("AlwaysConnect", func(t *testing.T) {
		ts := newSIO(t, gateway.Config{AlwaysConnect: true})
		disc := make(chan gateway.DisconnectReason, 1)
		ts.srv.Of("/").OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
			return errors.New("refused later")
		})
		ts.srv.Of("/").OnDisconnect(func(s *gateway.Socket, r gateway.DisconnectReason) { disc <- r })
		c := ts.dial(t, tr)
		c.connect(t, "/", "")
		c.expect(t, "41")
		if r := recv(t, disc, "disconnect handler"); r != gateway.ReasonServerNamespaceDisconnect {
			t.Fatalf("reason %q", r)
		}
	})
	t.Run("connect timeout", func(t *testing.T) {
		ts := newSIO(t, gateway.Config{ConnectTimeout: 300 * time.Millisecond})
		c := ts.dial(t, tr)
		c.expectClosed(t)
		eventually(t, "the session to be gone", func() bool { return ts.srv.Engine().Count() == 0 })
	})
	t.Run("connect timeout stopped by CONNECT", func(t *testing.T) {
		cfg := gateway.Config{ConnectTimeout: 300 * time.Millisecond}
		cfg.Engine.PingInterval = 200 * time.Millisecond
		cfg.Engine.PingTimeout = 200 * time.Millisecond
		ts := newSIO(t, cfg)
		ts.srv.Of("/").On("echo", func(s *gateway.Socket, e *gateway.Event) []any { return e.Args.Items() })
		c := ts.dial(t, tr)
		c.connect(t, "/", "")
		// Rounds of pings (answered by the client) outlast the timeout.
		for i := 0; i < 4; i++ {
			time.Sleep(200 * time.Millisecond)
			c.send(t, fmt.Sprintf(`42%d["echo",%d]`, i, i))
			c.expect(t, fmt.Sprintf(`43%d[%d]`, i, i))
		}
	})
}

func testInvalidPackets(t *testing.T, tr string) {
	bad := []struct {
		name string
		f    frame
	}{
		{"4abc", frame{data: []byte("4abc")}},
		{"CONNECT_ERROR from client", frame{data: []byte(`44{"message":"x"}`)}},
		{"event with an object", frame{data: []byte(`42{}`)}},
		{"event with junk", frame{data: []byte(`42abc["x"]`)}},
		{"event with no name", frame{data: []byte(`42[]`)}},
		{"event with a numeric name", frame{data: []byte(`42[1]`)}},
		{"unterminated JSON", frame{data: []byte(`42["x"`)}},
		{"binary frame with nothing pending", frame{data: []byte{1, 2, 3}, binary: true}},
		{"text while attachments pending", frame{data: []byte(`451-["x",{"_placeholder":true,"num":0}]`)}},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			ts := newSIO(t, gateway.Config{})
			disc := make(chan gateway.DisconnectReason, 1)
			ts.srv.Of("/").OnDisconnect(func(s *gateway.Socket, r gateway.DisconnectReason) { disc <- r })
			c := ts.dial(t, tr)
			c.connect(t, "/", "")
			if err := c.sendRaw(b.f); err != nil {
				t.Fatal(err)
			}
			if b.name == "text while attachments pending" {
				c.send(t, `42["y"]`)
			}
			c.expectClosed(t)
			if r := recv(t, disc, "disconnect handler"); r != gateway.ReasonParseError {
				t.Fatalf("disconnect reason %q, want %q", r, gateway.ReasonParseError)
			}
		})
	}
	t.Run("invalid packet before CONNECT", func(t *testing.T) {
		ts := newSIO(t, gateway.Config{})
		c := ts.dial(t, tr)
		c.send(t, "4abc")
		c.expectClosed(t)
	})
}

func testEvents(t *testing.T, tr string) {
	ts := newSIO(t, gateway.Config{})
	got := make(chan string, 16)
	ts.srv.Of("/").On("echo", func(s *gateway.Socket, e *gateway.Event) []any { return e.Args.Items() })
	ts.srv.Of("/").On("note", func(s *gateway.Socket, e *gateway.Event) []any {
		b, _ := json.Marshal(e.Args)
		got <- fmt.Sprintf("%s %v %s", e.Name, e.AckRequested(), b)
		return []any{"ignored without an ack id"}
	})
	ts.srv.Of("/").On("bin", func(s *gateway.Socket, e *gateway.Event) []any {
		var a, b []byte
		if err := e.Args.Decode(0, &a); err != nil {
			got <- "decode 0: " + err.Error()
			return nil
		}
		if err := e.Args.Decode(1, &b); err != nil {
			got <- "decode 1: " + err.Error()
			return nil
		}
		got <- fmt.Sprintf("bin %x %x %s", a, b, e.Args.Raw(2))
		return []any{b, "mid", a}
	})
	ts.srv.Of("/").On("*", func(s *gateway.Socket, e *gateway.Event) []any {
		got <- "catch-all " + e.Name
		return []any{e.Name}
	})
	ts.srv.Of("/custom").On("echo", func(s *gateway.Socket, e *gateway.Event) []any { return e.Args.Items() })
	ts.srv.Of("/").On("emit-bin", func(s *gateway.Socket, e *gateway.Event) []any {
		_ = s.Emit("bin-back", []byte{0xca, 0xfe}, map[string]any{"b": []byte{0xbe}})
		return nil
	})
	ts.srv.Of("/").On("send", func(s *gateway.Socket, e *gateway.Event) []any {
		_ = s.Send("via send")
		_ = ts.srv.Send(context.Background(), "via server send")
		return nil
	})

	c := ts.dial(t, tr)
	c.connect(t, "/", "")
	c.connect(t, "/custom", "")

	t.Run("multiple args with ack", func(t *testing.T) {
		c.send(t, `421["echo",1,"two",{"three":3},[4,null],true]`)
		c.expect(t, `431[1,"two",{"three":3},[4,null],true]`)
	})
	t.Run("ack with no args", func(t *testing.T) {
		c.send(t, `4212["echo"]`)
		c.expect(t, `4312[]`)
	})
	t.Run("event without ack", func(t *testing.T) {
		c.send(t, `42["note","x",2]`)
		if s := recv(t, got, "note handler"); s != `note false ["x",2]` {
			t.Fatalf("handler saw %q", s)
		}
		c.send(t, `42["echo","marker"]`) // no ack id: nothing comes back
		c.send(t, `422["echo","after"]`)
		c.expect(t, `432["after"]`)
	})
	t.Run("custom namespace ack", func(t *testing.T) {
		c.send(t, `42/custom,7["echo","a"]`)
		c.expect(t, `43/custom,7["a"]`)
	})
	t.Run("binary event with 2 attachments and binary ack", func(t *testing.T) {
		c.send(t, `452-9["bin",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},"plain"]`)
		c.sendBin(t, []byte{1, 2})
		c.sendBin(t, []byte{3})
		if s := recv(t, got, "bin handler"); s != `bin 0102 03 "plain"` {
			t.Fatalf("handler saw %q", s)
		}
		f := c.next(t)
		if !strings.HasPrefix(string(f.data), "462-9[") {
			t.Fatalf("got %s, want 462-9[...]", f)
		}
		sameJSON(t, string(f.data[len("462-9"):]), `[{"_placeholder":true,"num":0},"mid",{"_placeholder":true,"num":1}]`)
		c.expectBin(t, []byte{3})
		c.expectBin(t, []byte{1, 2})
	})
	t.Run("binary emit from server", func(t *testing.T) {
		c.send(t, `42["emit-bin"]`)
		f := c.next(t)
		if !strings.HasPrefix(string(f.data), "452-[") {
			t.Fatalf("got %s, want 452-[...]", f)
		}
		sameJSON(t, string(f.data[len("452-"):]), `["bin-back",{"_placeholder":true,"num":0},{"b":{"_placeholder":true,"num":1}}]`)
		c.expectBin(t, []byte{0xca, 0xfe})
		c.expectBin(t, []byte{0xbe})
	})
	t.Run("catch-all event", func(t *testing.T) {
		c.send(t, `423["whatever",1]`)
		if s := recv(t, got, "catch-all handler"); s != "catch-all whatever" {
			t.Fatalf("handler saw %q", s)
		}
		c.expect(t, `433["whatever"]`)
	})
	t.Run("Send", func(t *testing.T) {
		c.send(t, `42["send"]`)
		c.expect(t, `42["message","via send"]`)
		c.expect(t, `42["message","via server send"]`)
	})
	t.Run("event to a namespace not joined is ignored", func(t *testing.T) {
		c.send(t, `42/nowhere,4["echo","x"]`)
		c.send(t, `425["echo","still"]`)
		c.expect(t, `435["still"]`)
	})
}

// roomClients connects clients whose connect handler joins the rooms
// named in their auth payload.
type roomSetup struct {
	ts    *testServer
	mu    sync.Mutex
	socks map[string]*gateway.Socket // by client name
	disc  chan string
}

func newRoomSetup(t *testing.T, cfg gateway.Config) *roomSetup {
	rs := &roomSetup{ts: newSIO(t, cfg), socks: map[string]*gateway.Socket{}, disc: make(chan string, 64)}
	rs.ts.srv.Of("/").OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
		var a struct {
			Name  string
			Rooms []string
		}
		if err := json.Unmarshal(auth, &a); err != nil {
			return err
		}
		s.Join(a.Rooms...)
		s.SetData(a.Name)
		rs.mu.Lock()
		rs.socks[a.Name] = s
		rs.mu.Unlock()
		return nil
	})
	rs.ts.srv.Of("/").OnDisconnect(func(s *gateway.Socket, r gateway.DisconnectReason) {
		rs.disc <- fmt.Sprintf("%v %s", s.Data(), r)
	})
	return rs
}

func (rs *roomSetup) client(t *testing.T, tr, name string, rooms ...string) *client {
	c := rs.ts.dial(t, tr)
	auth, _ := json.Marshal(map[string]any{"name": name, "rooms": rooms})
	c.connect(t, "/", string(auth))
	return c
}

func (rs *roomSetup) sock(name string) *gateway.Socket {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.socks[name]
}

// mark sends a marker to every socket; each client's next packet must be
// it, which proves that nothing else was sent to it before.
func mark(t *testing.T, srv *gateway.Server, n int, cs ...*client) {
	t.Helper()
	if err := srv.Emit(context.Background(), "mark", n); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		c.expect(t, fmt.Sprintf(`42["mark",%d]`, n))
	}
}

func testBroadcasts(t *testing.T, tr string) {
	rs := newRoomSetup(t, gateway.Config{})
	srv := rs.ts.srv
	srv.Of("/").On("relay", func(s *gateway.Socket, e *gateway.Event) []any {
		_ = s.To("r1").Emit(context.Background(), "relayed", s.Data())
		return nil
	})
	srv.Of("/").On("broadcast", func(s *gateway.Socket, e *gateway.Event) []any {
		_ = s.Broadcast().Emit(context.Background(), "all-but-me")
		return nil
	})
	c1 := rs.client(t, tr, "c1", "r1")
	c2 := rs.client(t, tr, "c2", "r2")
	c3 := rs.client(t, tr, "c3", "r1", "r2")
	c4 := rs.client(t, tr, "c4")
	all := []*client{c1, c2, c3, c4}

	t.Run("server Emit", func(t *testing.T) {
		if err := srv.Emit(context.Background(), "hi", 1, "a"); err != nil {
			t.Fatal(err)
		}
		for _, c := range all {
			c.expect(t, `42["hi",1,"a"]`)
		}
	})
	t.Run("To room", func(t *testing.T) {
		if err := srv.To("r1").Emit(context.Background(), "e1"); err != nil {
			t.Fatal(err)
		}
		c1.expect(t, `42["e1"]`)
		c3.expect(t, `42["e1"]`)
		mark(t, srv, 1, all...)
	})
	t.Run("To two rooms reaches each member once", func(t *testing.T) {
		if err := srv.To("r1", "r2").Emit(context.Background(), "e2"); err != nil {
			t.Fatal(err)
		}
		if err := srv.To("r1").To("r2").Emit(context.Background(), "e2b"); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*client{c1, c2, c3} {
			c.expect(t, `42["e2"]`)
			c.expect(t, `42["e2b"]`)
		}
		mark(t, srv, 2, all...)
	})
	t.Run("To a socket id", func(t *testing.T) {
		if err := srv.To(rs.sock("c4").ID()).Emit(context.Background(), "direct"); err != nil {
			t.Fatal(err)
		}
		c4.expect(t, `42["direct"]`)
		mark(t, srv, 3, all...)
	})
	t.Run("Except", func(t *testing.T) {
		if err := srv.Except("r1").Emit(context.Background(), "e3"); err != nil {
			t.Fatal(err)
		}
		c2.expect(t, `42["e3"]`)
		c4.expect(t, `42["e3"]`)
		if err := srv.To("r2").Except("r1").Emit(context.Background(), "e4"); err != nil {
			t.Fatal(err)
		}
		c2.expect(t, `42["e4"]`)
		mark(t, srv, 4, all...)
	})
	t.Run("socket To excludes the sender", func(t *testing.T) {
		c3.send(t, `421["relay"]`)
		c3.expect(t, `431[]`)
		c1.expect(t, `42["relayed","c3"]`)
		mark(t, srv, 5, all...)
	})
	t.Run("socket Broadcast excludes the sender", func(t *testing.T) {
		c2.send(t, `421["broadcast"]`)
		c2.expect(t, `431[]`)
		for _, c := range []*client{c1, c3, c4} {
			c.expect(t, `42["all-but-me"]`)
		}
		mark(t, srv, 6, all...)
	})
	t.Run("Send", func(t *testing.T) {
		if err := srv.To("r2").Send(context.Background(), "to r2"); err != nil {
			t.Fatal(err)
		}
		c2.expect(t, `42["message","to r2"]`)
		c3.expect(t, `42["message","to r2"]`)
		mark(t, srv, 7, all...)
	})
	t.Run("Volatile to idle clients", func(t *testing.T) {
		if err := srv.To("r1").Volatile().Emit(context.Background(), "vol"); err != nil {
			t.Fatal(err)
		}
		c1.expect(t, `42["vol"]`)
		c3.expect(t, `42["vol"]`)
		mark(t, srv, 8, all...)
	})
	t.Run("other namespace not reached", func(t *testing.T) {
		other := srv.Of("/other")
		c1.connect(t, "/other", "")
		if err := other.Emit(context.Background(), "o"); err != nil {
			t.Fatal(err)
		}
		c1.expect(t, `42/other,["o"]`)
		mark(t, srv, 9, all...)
	})
}

// testVolatileDropped drives a polling client by hand so that packets wait
// in the server's queue: a volatile packet is then dropped.
func testVolatileDropped(t *testing.T) {
	ts := newSIO(t, gateway.Config{})
	get := func() string {
		t.Helper()
		resp, err := defaultHTTP.Get(ts.base() + "&transport=polling" + sidParam)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	sidParam = ""
	sid, err := openSID([]byte(get()))
	if err != nil {
		t.Fatal(err)
	}
	sidParam = "&sid=" + sid
	defer func() { sidParam = "" }()
	resp, err := defaultHTTP.Post(ts.base()+"&transport=polling"+sidParam, "text/plain", strings.NewReader("40"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if b := get(); !strings.HasPrefix(b, `40{"sid":`) {
		t.Fatalf("CONNECT answer %q", b)
	}
	if err := ts.srv.Emit(context.Background(), "regular"); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.Except().Volatile().Emit(context.Background(), "dropped"); err != nil {
		t.Fatal(err)
	}
	if b := get(); b != `42["regular"]` {
		t.Fatalf("GET %q, want only the regular event", b)
	}
	if err := ts.srv.Except().Volatile().Emit(context.Background(), "kept"); err != nil {
		t.Fatal(err)
	}
	if b := get(); b != `42["kept"]` {
		t.Fatalf("GET %q, want the volatile event sent to an idle client", b)
	}
}

var sidParam string

func testServerAcks(t *testing.T, tr string) {
	rs := newRoomSetup(t, gateway.Config{})
	c := rs.client(t, tr, "a")
	s := rs.sock("a")

	t.Run("EmitWithCallback", func(t *testing.T) {
		res := make(chan string, 1)
		err := s.EmitWithCallback(func(args socketio.Args, err error) {
			b, _ := json.Marshal(args)
			res <- fmt.Sprintf("%s %v", b, err)
		}, "q", 1)
		if err != nil {
			t.Fatal(err)
		}
		id, data := c.nextEvent(t)
		if id < 0 || data != `["q",1]` {
			t.Fatalf("event id %d data %s", id, data)
		}
		c.send(t, fmt.Sprintf(`43%d["a",2]`, id))
		if r := recv(t, res, "ack callback"); r != `["a",2] <nil>` {
			t.Fatalf("callback got %q", r)
		}
	})
	t.Run("Call", func(t *testing.T) {
		type result struct {
			args socketio.Args
			err  error
		}
		res := make(chan result, 1)
		go func() {
			a, err := s.EmitWithAck(context.Background(), "q2", "x")
			res <- result{a, err}
		}()
		id, data := c.nextEvent(t)
		if id < 0 || data != `["q2","x"]` {
			t.Fatalf("event id %d data %s", id, data)
		}
		c.send(t, fmt.Sprintf(`43%d[true,"y"]`, id))
		r := recv(t, res, "Call")
		if r.err != nil || r.args.Len() != 2 || r.args.String(1) != "y" {
			t.Fatalf("Call: %v %v", r.args, r.err)
		}
	})
	t.Run("Call timeout", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := s.EmitWithAck(ctx, "never")
			done <- err
		}()
		id, _ := c.nextEvent(t)
		if err := recv(t, done, "Call to time out"); !errors.Is(err, gateway.ErrAckTimeout) {
			t.Fatalf("Call: %v, want ErrAckTimeout", err)
		}
		c.send(t, fmt.Sprintf(`43%d["late"]`, id)) // a late ack is ignored
		c.send(t, `42["still alive"]`)
		if !s.Connected() {
			t.Fatal("socket disconnected by a late ack")
		}
	})
	t.Run("Call default AckTimeout", func(t *testing.T) {
		rs := newRoomSetup(t, gateway.Config{AckTimeout: 200 * time.Millisecond})
		c := rs.client(t, tr, "b")
		done := make(chan error, 1)
		go func() {
			_, err := rs.sock("b").EmitWithAck(context.Background(), "never")
			done <- err
		}()
		c.nextEvent(t)
		if err := recv(t, done, "Call to time out"); !errors.Is(err, gateway.ErrAckTimeout) {
			t.Fatalf("Call: %v, want ErrAckTimeout", err)
		}
	})
	t.Run("Call to a socket that disconnects", func(t *testing.T) {
		done := make(chan error, 1)
		cb := make(chan error, 1)
		if err := s.EmitWithCallback(func(_ socketio.Args, err error) { cb <- err }, "pending"); err != nil {
			t.Fatal(err)
		}
		c.nextEvent(t)
		go func() {
			_, err := s.EmitWithAck(context.Background(), "bye")
			done <- err
		}()
		c.nextEvent(t)
		c.send(t, "41")
		if err := recv(t, done, "Call to fail"); !errors.Is(err, gateway.ErrDisconnected) {
			t.Fatalf("Call: %v, want ErrDisconnected", err)
		}
		if err := recv(t, cb, "callback to fail"); !errors.Is(err, gateway.ErrDisconnected) {
			t.Fatalf("callback: %v, want ErrDisconnected", err)
		}
		if _, err := s.EmitWithAck(context.Background(), "after"); !errors.Is(err, gateway.ErrDisconnected) {
			t.Fatalf("Call after disconnect: %v, want ErrDisconnected", err)
		}
		if err := s.Emit("after"); !errors.Is(err, gateway.ErrDisconnected) {
			t.Fatalf("Emit after disconnect: %v, want ErrDisconnected", err)
		}
	})
}

func testRooms(t *testing.T, tr string) {
	rs := newRoomSetup(t, gateway.Config{})
	srv := rs.ts.srv
	ns := srv.Of("/")
	c1 := rs.client(t, tr, "c1")
	c2 := rs.client(t, tr, "c2")
	s1, s2 := rs.sock("c1"), rs.sock("c2")
	sorted := func(r []string) []string { r = slices.Clone(r); slices.Sort(r); return r }
	want := func(ids ...string) []string { slices.Sort(ids); return ids }

	t.Run("Join Leave Rooms", func(t *testing.T) {
		if r := sorted(s1.Rooms()); !slices.Equal(r, want(s1.ID())) {
			t.Fatalf("initial rooms %v", r)
		}
		s1.Join("a", "b")
		if r := sorted(s1.Rooms()); !slices.Equal(r, want(s1.ID(), "a", "b")) {
			t.Fatalf("rooms after Join %v", r)
		}
		s1.Leave("a")
		if r := sorted(s1.Rooms()); !slices.Equal(r, want(s1.ID(), "b")) {
			t.Fatalf("rooms after Leave %v", r)
		}
		_ = srv.To("b").Emit(context.Background(), "in-b")
		c1.expect(t, `42["in-b"]`)
		mark(t, srv, 1, c1, c2)
		s1.Leave("b")
	})
	t.Run("namespace room API", func(t *testing.T) {
		if err := ns.EnterRoom(context.Background(), s2.ID(), "x"); err != nil {
			t.Fatal(err)
		}
		if err := ns.EnterRoom(context.Background(), s1.ID(), "x"); err != nil {
			t.Fatal(err)
		}
		if r := sorted(ns.Rooms(s2.ID())); !slices.Equal(r, want(s2.ID(), "x")) {
			t.Fatalf("ns.Rooms %v", r)
		}
		if err := ns.LeaveRoom(context.Background(), s1.ID(), "x"); err != nil {
			t.Fatal(err)
		}
		_ = ns.To("x").Emit(context.Background(), "in-x")
		c2.expect(t, `42["in-x"]`)
		mark(t, srv, 2, c1, c2)
		if err := ns.CloseRoom(context.Background(), "x"); err != nil {
			t.Fatal(err)
		}
		if r := ns.Rooms(s2.ID()); slices.Contains(r, "x") {
			t.Fatalf("rooms after CloseRoom %v", r)
		}
		_ = ns.To("x").Emit(context.Background(), "in-x")
		mark(t, srv, 3, c1, c2)
	})
	t.Run("unknown sids are no-ops", func(t *testing.T) {
		if err := ns.EnterRoom(context.Background(), "nope", "y"); err != nil {
			t.Fatalf("EnterRoom: %v", err)
		}
		if r := ns.Rooms("nope"); r != nil {
			t.Fatalf("Rooms of unknown sid %v", r)
		}
		if err := ns.LeaveRoom(context.Background(), "nope", "y"); err != nil {
			t.Fatalf("LeaveRoom: %v", err)
		}
		if err := ns.CloseRoom(context.Background(), "no-such-room"); err != nil {
			t.Fatalf("CloseRoom: %v", err)
		}
		if err := ns.Disconnect(context.Background(), "nope"); err != nil {
			t.Fatalf("DisconnectSocket: %v", err)
		}
		_ = ns.To("y").Emit(context.Background(), "in-y")
		mark(t, srv, 4, c1, c2)
	})
	t.Run("DisconnectSocket", func(t *testing.T) {
		if err := ns.Disconnect(context.Background(), s2.ID()); err != nil {
			t.Fatal(err)
		}
		c2.expect(t, "41")
		if r := recv(t, rs.disc, "disconnect handler"); r != "c2 server namespace disconnect" {
			t.Fatalf("disconnect %q", r)
		}
		if ns.Rooms(s2.ID()) != nil {
			t.Fatal("rooms of a disconnected socket")
		}
		c2.connect(t, "/", `{"name":"c2b"}`) // connection still open
	})
}

func testOperator(t *testing.T, tr string) {
	rs := newRoomSetup(t, gateway.Config{})
	srv := rs.ts.srv
	c1 := rs.client(t, tr, "c1", "r1")
	c2 := rs.client(t, tr, "c2", "r2")
	c3 := rs.client(t, tr, "c3", "r1", "r2")
	all := []*client{c1, c2, c3}
	names := func(t *testing.T, op gateway.Operator) []string {
		t.Helper()
		infos, err := op.FetchSockets(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, in := range infos {
			out = append(out, fmt.Sprint(in.Data))
		}
		slices.Sort(out)
		return out
	}

	t.Run("FetchSockets", func(t *testing.T) {
		infos, err := srv.To("r1").FetchSockets(context.Background())
		if err != nil || len(infos) != 2 {
			t.Fatalf("FetchSockets: %d %v", len(infos), err)
		}
		for _, in := range infos {
			if in.Namespace != "/" || !slices.Contains(in.Rooms, "r1") || !slices.Contains(in.Rooms, in.ID) || in.Handshake.Address == "" {
				t.Fatalf("socket info %+v", in)
			}
		}
		if n := names(t, srv.Except()); !slices.Equal(n, []string{"c1", "c2", "c3"}) {
			t.Fatalf("all sockets %v", n)
		}
		if n := names(t, srv.Except("r2")); !slices.Equal(n, []string{"c1"}) {
			t.Fatalf("except r2 %v", n)
		}
	})
	t.Run("SocketsJoin SocketsLeave", func(t *testing.T) {
		if err := srv.To("r2").SocketsJoin(context.Background(), "j"); err != nil {
			t.Fatal(err)
		}
		if n := names(t, srv.To("j")); !slices.Equal(n, []string{"c2", "c3"}) {
			t.Fatalf("in j: %v", n)
		}
		if err := srv.To("r1").SocketsLeave(context.Background(), "j"); err != nil {
			t.Fatal(err)
		}
		if n := names(t, srv.To("j")); !slices.Equal(n, []string{"c2"}) {
			t.Fatalf("in j after leave: %v", n)
		}
		_ = srv.To("j").Emit(context.Background(), "j")
		c2.expect(t, `42["j"]`)
		mark(t, srv, 1, all...)
	})
	t.Run("EmitWithAck all answer", func(t *testing.T) {
		type result struct {
			answers []socketio.Args
			err     error
		}
		res := make(chan result, 1)
		go func() {
			a, err := srv.To("r1").EmitWithAck(context.Background(), "ask", 1)
			res <- result{a, err}
		}()
		for i, c := range []*client{c1, c3} {
			id, data := c.nextEvent(t)
			if id < 0 || data != `["ask",1]` {
				t.Fatalf("event %d %s", id, data)
			}
			c.send(t, fmt.Sprintf(`43%d[%d]`, id, i))
		}
		r := recv(t, res, "EmitWithAck")
		if r.err != nil || len(r.answers) != 2 {
			t.Fatalf("EmitWithAck: %d answers, %v", len(r.answers), r.err)
		}
		mark(t, srv, 2, all...)
	})
	t.Run("EmitWithAck one never answers", func(t *testing.T) {
		type result struct {
			answers []socketio.Args
			err     error
		}
		res := make(chan result, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		go func() {
			a, err := srv.To("r1").EmitWithAck(ctx, "ask", 2)
			res <- result{a, err}
		}()
		id, _ := c1.nextEvent(t)
		c1.send(t, fmt.Sprintf(`43%d["from c1"]`, id))
		c3.nextEvent(t) // c3 never answers
		r := recv(t, res, "EmitWithAck")
		if !errors.Is(r.err, gateway.ErrAckTimeout) {
			t.Fatalf("EmitWithAck: %v, want ErrAckTimeout", r.err)
		}
		if len(r.answers) != 1 || r.answers[0].String(0) != "from c1" {
			t.Fatalf("partial answers %v", r.answers)
		}
		mark(t, srv, 3, all...)
	})
	t.Run("DisconnectSockets", func(t *testing.T) {
		if err := srv.To("r2").DisconnectSockets(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		c2.expect(t, "41")
		c3.expect(t, "41")
		got := []string{recv(t, rs.disc, "disconnect"), recv(t, rs.disc, "disconnect")}
		slices.Sort(got)
		if !slices.Equal(got, []string{"c2 server namespace disconnect", "c3 server namespace disconnect"}) {
			t.Fatalf("disconnects %v", got)
		}
		mark(t, srv, 4, c1)
		if err := srv.To("r1").DisconnectSockets(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		c1.expect(t, "41")
		c1.expectClosed(t)
		if r := recv(t, rs.disc, "disconnect"); r != "c1 server namespace disconnect" {
			t.Fatalf("disconnect %q", r)
		}
		// c2 and c3 kept their connections.
		c2.connect(t, "/", `{"name":"c2"}`)
	})
}

func testDisconnectReasons(t *testing.T, tr string) {
	setup := func(t *testing.T, cfg gateway.Config) (*testServer, chan gateway.DisconnectReason, chan *gateway.Socket) {
		ts := newSIO(t, cfg)
		disc := make(chan gateway.DisconnectReason, 4)
		socks := make(chan *gateway.Socket, 4)
		for _, nsp := range []string{"/", "/custom"} {
			ts.srv.Of(nsp).OnConnect(func(s *gateway.Socket, _ json.RawMessage) error { socks <- s; return nil })
			ts.srv.Of(nsp).OnDisconnect(func(s *gateway.Socket, r gateway.DisconnectReason) { disc <- r })
		}
		ts.srv.Of("/").On("echo", func(s *gateway.Socket, e *gateway.Event) []any { return e.Args.Items() })
		return ts, disc, socks
	}
	t.Run("client namespace disconnect", func(t *testing.T) {
		ts, disc, _ := setup(t, gateway.Config{})
		c := ts.dial(t, tr)
		c.connect(t, "/", "")
		c.connect(t, "/custom", "")
		c.send(t, "41/custom,")
		if r := recv(t, disc, "disconnect handler"); r != gateway.ReasonClientNamespaceDisconnect {
			t.Fatalf("reason %q", r)
		}
		c.send(t, `421["echo","open"]`) // the connection stays open
		c.expect(t, `431["open"]`)
		c.send(t, "41")
		if r := recv(t, disc, "disconnect handler"); r != gateway.ReasonClientNamespaceDisconnect {
			t.Fatalf("reason %q", r)
		}
		c.connect(t, "/", "") // and can connect again
		if ts.srv.Engine().Count() != 1 {
			t.Fatal("session closed")
		}
	})
	t.Run("server namespace disconnect", func(t *testing.T) {
		ts, disc, socks := setup(t, gateway.Config{})
		c := ts.dial(t, tr)
		c.connect(t, "/", "")
		s := recv(t, socks, "socket")
		s.Disconnect(false)
		c.expect(t, "41")
		if r := recv(t, disc, "disconnect handler"); r != gateway.ReasonServerNamespaceDisconnect {
			t.Fatalf("reason %q", r)
		}
		if s.Connected() {
			t.Fatal("socket still connected")
		}
		c.connect(t, "/", "")
	})
	t.Run("transport close", func(t *testing.T) {
		ts, disc, _ := setup(t, gateway.Config{})
		c := ts.dial(t, tr)
		c.connect(t, "/", "")
		c.connect(t, "/custom", "")
		c.close()
		for i := 0; i < 2; i++ {
			if r := recv(t, disc, "disconnect handler"); r != gateway.ReasonTransportClose {
				t.Fatalf("reason %q", r)
			}
		}
		eventually(t, "the session to be gone", func() bool { return ts.srv.Engine().Count() == 0 })
	})
	t.Run("ping timeout", func(t *testing.T) {
		cfg := gateway.Config{}
		cfg.Engine.PingInterval = 300 * time.Millisecond
		cfg.Engine.PingTimeout = 200 * time.Millisecond
		ts, disc, _ := setup(t, cfg)
		c := ts.dialOpt(t, tr, dialOpts{noPong: true})
		c.connect(t, "/", "")
		if r := recv(t, disc, "disconnect handler"); r != gateway.ReasonPingTimeout {
			t.Fatalf("reason %q", r)
		}
	})
	t.Run("server close", func(t *testing.T) {
		ts, disc, socks := setup(t, gateway.Config{})
		c := ts.dial(t, tr)
		c.connect(t, "/", "")
		recv(t, socks, "socket").Disconnect(true)
		c.expect(t, "41")
		c.expectClosed(t)
		if r := recv(t, disc, "disconnect handler"); r != gateway.ReasonServerNamespaceDisconnect {
			t.Fatalf("reason %q", r)
		}
	})
	t.Run("server shutting down", func(t *testing.T) {
		ts, disc, _ := setup(t, gateway.Config{})
		c := ts.dial(t, tr)
		c.connect(t, "/", "")
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := ts.srv.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		c.expectClosed(t)
		if r := recv(t, disc, "disconnect handler"); r != gateway.ReasonServerShutdown {
			t.Fatalf("reason %q", r)
		}
	})
}

func testRobustness(t *testing.T, tr string) {
	t.Run("panicking handler", func(t *testing.T) {
		ts := newSIO(t, gateway.Config{})
		ts.srv.Of("/").On("boom", func(s *gateway.Socket, e *gateway.Event) []any { panic("boom") })
		ts.srv.Of("/").On("echo", func(s *gateway.Socket, e *gateway.Event) []any { return e.Args.Items() })
		c := ts.dial(t, tr)
		c.connect(t, "/", "")
		c.send(t, `42["boom"]`)
		c.send(t, `421["boom"]`)
		c.expect(t, `431[]`)
		c.send(t, `422["echo","alive"]`)
		c.expect(t, `432["alive"]`)
	})
	t.Run("AsyncHandlers lets a handler Call the same client", func(t *testing.T) {
		ts := newSIO(t, gateway.Config{AsyncHandlers: true})
		ts.srv.Of("/").On("ask-back", func(s *gateway.Socket, e *gateway.Event) []any {
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			a, err := s.EmitWithAck(ctx, "question", e.Args.String(0))
			if err != nil {
				return []any{err.Error()}
			}
			return []any{a.Raw(0)}
		})
		c := ts.dial(t, tr)
		c.connect(t, "/", "")
		c.send(t, `421["ask-back","q?"]`)
		id, data := c.nextEvent(t)
		if id < 0 || data != `["question","q?"]` {
			t.Fatalf("event %d %s", id, data)
		}
		c.send(t, fmt.Sprintf(`43%d["answer"]`, id))
		c.expect(t, `431["answer"]`)
	})
	t.Run("engine sessions are sockets' connections", func(t *testing.T) {
		ts := newSIO(t, gateway.Config{})
		c := ts.dial(t, tr)
		if _, ok := ts.srv.Engine().Session(c.sid); !ok {
			t.Fatal("no engine session for the client")
		}
		var _ *engineio.Server = ts.srv.Engine()
	})
}
