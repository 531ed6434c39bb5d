package engineio_test

// Black-box tests of the Engine.IO v4 server, written from the protocol
// specification (docs/engine.io-protocol/v4-current.md), over real sockets:
// net/http for long-polling and github.com/lxzan/gws for WebSocket.

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/siogate/siogate/gateway/engineio"
)

const waitFor = 5 * time.Second

// ---------------------------------------------------------------------------
// Server side: an echo handler that records sessions and close reasons.

type recorder struct {
	mu       sync.Mutex
	sessions map[string]*engineio.Session
	reasons  map[string]engineio.Reason
}

func newRecorder() *recorder {
	return &recorder{sessions: map[string]*engineio.Session{}, reasons: map[string]engineio.Reason{}}
}

func (r *recorder) OnOpen(s *engineio.Session) {
	r.mu.Lock()
	r.sessions[s.ID()] = s
	r.mu.Unlock()
}

func (r *recorder) OnMessage(s *engineio.Session, data []byte, binary bool) {
	if binary {
		_ = s.Send(engineio.Frame{Data: bytes.Clone(data), Binary: true})
		return
	}
	_ = s.Send(engineio.MessageFrame(data))
}

func (r *recorder) OnClose(s *engineio.Session, reason engineio.Reason) {
	r.mu.Lock()
	r.reasons[s.ID()] = reason
	r.mu.Unlock()
}

func (r *recorder) session(t testing.TB, sid string) *engineio.Session {
	t.Helper()
	var ss *engineio.Session
	eventually(t, "session "+sid+" to open", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		ss = r.sessions[sid]
		return ss != nil
	})
	return ss
}

// closeReason waits for the session to be closed and returns the reason.
func (r *recorder) closeReason(t *testing.T, sid string) engineio.Reason {
	t.Helper()
	var reason engineio.Reason
	eventually(t, "session "+sid+" to close", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		var ok bool
		reason, ok = r.reasons[sid]
		return ok
	})
	return reason
}

func (r *recorder) isClosed(sid string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.reasons[sid]
	return ok
}

// eventually polls cond until it holds or waitFor passes.
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

type testServer struct {
	srv *engineio.Server
	rec *recorder
	ts  *httptest.Server
	url string // http://127.0.0.1:port/engine.io/
}

func newServer(t testing.TB, cfg engineio.Config) *testServer {
	t.Helper()
	return startServer(t, cfg, httptest.NewServer)
}

// newTLSServer is newServer over TLS; its WebSocket clients trust the
// test certificate.
func newTLSServer(t testing.TB, cfg engineio.Config) *testServer {
	t.Helper()
	return startServer(t, cfg, httptest.NewTLSServer)
}

func startServer(t testing.TB, cfg engineio.Config, listen func(http.Handler) *httptest.Server) *testServer {
	t.Helper()
	rec := newRecorder()
	srv := engineio.NewServer(cfg, rec)
	engineio.SetIdleAfter(srv, 20*time.Millisecond) // every test also exercises parked connections (wsread.go)
	ts := listen(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ts.Close()
	})
	return &testServer{srv: srv, rec: rec, ts: ts, url: ts.URL + "/engine.io/"}
}

var httpClient = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64},
}

func (s *testServer) pollURL(sid string) string {
	u := s.url + "?EIO=4&transport=polling"
	if sid != "" {
		u += "&sid=" + sid
	}
	return u
}

func (s *testServer) wsURL(sid string) string {
	u := "ws" + strings.TrimPrefix(s.url, "http") + "?EIO=4&transport=websocket"
	if sid != "" {
		u += "&sid=" + sid
	}
	return u
}

func do(t *testing.T, ctx context.Context, method, url string, body io.Reader, hdr http.Header) (*http.Response, []byte, error) {
	t.Helper()
	if ctx == nil {
		ctx = context.Background()
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// request does an HTTP request that must complete.
func request(t *testing.T, method, url, body string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	resp, b, err := do(t, nil, method, url, rd, hdr)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp, string(b)
}

func (s *testServer) get(t *testing.T, sid string) (int, string) {
	t.Helper()
	resp, body := request(t, http.MethodGet, s.pollURL(sid), "", nil)
	return resp.StatusCode, body
}

func (s *testServer) post(t *testing.T, sid, body string) (int, string) {
	t.Helper()
	resp, b := request(t, http.MethodPost, s.pollURL(sid), body, nil)
	return resp.StatusCode, b
}

// asyncGet starts a GET and returns a channel with its outcome.
type getResult struct {
	status int
	body   string
	err    error
}

func (s *testServer) asyncGet(t *testing.T, ctx context.Context, sid string) <-chan getResult {
	ch := make(chan getResult, 1)
	go func() {
		resp, b, err := do(t, ctx, http.MethodGet, s.pollURL(sid), nil, nil)
		if err != nil {
			ch <- getResult{err: err}
			return
		}
		ch <- getResult{status: resp.StatusCode, body: string(b)}
	}()
	return ch
}

func awaitGet(t *testing.T, ch <-chan getResult) getResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitFor):
		t.Fatalf("pending GET not answered within %v", waitFor)
		return getResult{}
	}
}

// waitPollPending waits until the server holds a GET for sid.
func (s *testServer) waitPollPending(t *testing.T, sid string) {
	t.Helper()
	ss := s.rec.session(t, sid)
	eventually(t, "the GET to be pending", func() bool { return engineio.PollPending(ss) })
}

// handshake opens a polling session and returns its sid and handshake.
func (s *testServer) handshake(t *testing.T) (string, map[string]json.RawMessage) {
	t.Helper()
	code, body := s.get(t, "")
	if code != http.StatusOK {
		t.Fatalf("handshake: HTTP %d %q", code, body)
	}
	return parseOpen(t, body)
}

func parseOpen(t testing.TB, body string) (string, map[string]json.RawMessage) {
	t.Helper()
	if !strings.HasPrefix(body, "0") {
		t.Fatalf("handshake: want an open packet, got %q", body)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body[1:]), &m); err != nil {
		t.Fatalf("handshake: bad JSON %q: %v", body, err)
	}
	var sid string
	if err := json.Unmarshal(m["sid"], &sid); err != nil || sid == "" {
		t.Fatalf("handshake: bad sid in %q", body)
	}
	return sid, m
}

// ---------------------------------------------------------------------------
// WebSocket client.

type wsMsg struct {
	data   []byte
	binary bool
}

type wsClient struct {
	conn *gws.Conn
	msgs chan wsMsg
	done chan struct{}
	hold atomic.Pointer[chan struct{}] // while set, reading waits for it to close
}

// gate stops the client reading (at its next message) until g is closed.
func (c *wsClient) gate(g chan struct{}) { c.hold.Store(&g) }

type wsEvents struct{ c *wsClient }

func (wsEvents) OnOpen(*gws.Conn)                   {}
func (e wsEvents) OnClose(*gws.Conn, error)         { close(e.c.done) }
func (wsEvents) OnPing(c *gws.Conn, payload []byte) { _ = c.WritePong(payload) }
func (wsEvents) OnPong(*gws.Conn, []byte)           {}
func (e wsEvents) OnMessage(_ *gws.Conn, m *gws.Message) {
	if g := e.c.hold.Load(); g != nil {
		<-*g
	}
	msg := wsMsg{data: bytes.Clone(m.Bytes()), binary: m.Opcode == gws.OpcodeBinary}
	_ = m.Close()
	select {
	case e.c.msgs <- msg:
	case <-time.After(waitFor):
	}
}

func dialWS(t *testing.T, url string) (*wsClient, *http.Response, error) {
	t.Helper()
	c := &wsClient{msgs: make(chan wsMsg, 1024), done: make(chan struct{})}
	opt := &gws.ClientOption{Addr: url, HandshakeTimeout: waitFor}
	if strings.HasPrefix(url, "wss:") {
		opt.TlsConfig = &tls.Config{InsecureSkipVerify: true} // httptest's own certificate
	}
	conn, resp, err := gws.NewClient(wsEvents{c}, opt)
	if err != nil {
		return nil, resp, err
	}
	c.conn = conn
	go conn.ReadLoop()
	t.Cleanup(func() { _ = conn.NetConn().Close() })
	return c, resp, nil
}

func mustDialWS(t *testing.T, url string) *wsClient {
	t.Helper()
	c, resp, err := dialWS(t, url)
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Fatalf("websocket dial %s: %v (HTTP %d)", url, err, code)
	}
	return c
}

// openWS opens a WebSocket-only session and returns it with its handshake.
func (s *testServer) openWS(t *testing.T) (*wsClient, string, map[string]json.RawMessage) {
	t.Helper()
	c := mustDialWS(t, s.wsURL(""))
	m := c.next(t)
	if m.binary {
		t.Fatal("handshake arrived in a binary frame")
	}
	sid, hs := parseOpen(t, string(m.data))
	return c, sid, hs
}

func (c *wsClient) send(t *testing.T, text string) {
	t.Helper()
	if err := c.conn.WriteString(text); err != nil {
		t.Fatalf("websocket write %q: %v", text, err)
	}
}

func (c *wsClient) next(t *testing.T) wsMsg {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	default:
	}
	select {
	case m := <-c.msgs:
		return m
	case <-c.done:
		select {
		case m := <-c.msgs:
			return m
		default:
		}
		t.Fatal("websocket closed while a message was expected")
	case <-time.After(waitFor):
		t.Fatalf("no websocket message within %v", waitFor)
	}
	return wsMsg{}
}

func (c *wsClient) expectText(t *testing.T, want string) {
	t.Helper()
	m := c.next(t)
	if m.binary || string(m.data) != want {
		t.Fatalf("websocket: got %q (binary=%v), want text %q", m.data, m.binary, want)
	}
}

// expectClosed waits for the server to close the connection, ignoring
// messages meanwhile.
func (c *wsClient) expectClosed(t *testing.T) {
	t.Helper()
	timeout := time.After(waitFor)
	for {
		select {
		case <-c.done:
			return
		case <-c.msgs:
		case <-timeout:
			t.Fatalf("websocket not closed by the server within %v", waitFor)
		}
	}
}

// ---------------------------------------------------------------------------
// Tests.

func TestHandshake(t *testing.T) {
	keys := []string{"maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"}
	checkKeys := func(t *testing.T, hs map[string]json.RawMessage) {
		t.Helper()
		var got []string
		for k := range hs {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, keys) {
			t.Fatalf("handshake keys %v, want exactly %v", got, keys)
		}
	}
	upgrades := func(t *testing.T, hs map[string]json.RawMessage) []string {
		t.Helper()
		var u []string
		if err := json.Unmarshal(hs["upgrades"], &u); err != nil || u == nil {
			t.Fatalf("upgrades %s: not a JSON array", hs["upgrades"])
		}
		return u
	}

	t.Run("polling", func(t *testing.T) {
		s := newServer(t, engineio.Config{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond, MaxPayload: 12345})
		_, hs := s.handshake(t)
		checkKeys(t, hs)
		if u := upgrades(t, hs); !slices.Equal(u, []string{"websocket"}) {
			t.Fatalf("upgrades on polling = %v, want [websocket]", u)
		}
		for k, want := range map[string]string{"pingInterval": "300", "pingTimeout": "200", "maxPayload": "12345"} {
			if string(hs[k]) != want {
				t.Errorf("%s = %s, want %s", k, hs[k], want)
			}
		}
	})
	t.Run("websocket", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		_, _, hs := s.openWS(t)
		checkKeys(t, hs)
		if u := upgrades(t, hs); len(u) != 0 {
			t.Fatalf("upgrades on websocket = %v, want []", u)
		}
		for k, want := range map[string]string{"pingInterval": "25000", "pingTimeout": "20000", "maxPayload": "1000000"} {
			if string(hs[k]) != want {
				t.Errorf("default %s = %s, want %s", k, hs[k], want)
			}
		}
	})
	t.Run("DisableUpgrades", func(t *testing.T) {
		s := newServer(t, engineio.Config{DisableUpgrades: true})
		_, hs := s.handshake(t)
		checkKeys(t, hs)
		if u := upgrades(t, hs); len(u) != 0 {
			t.Fatalf("upgrades = %v, want []", u)
		}
	})
	t.Run("websocket not in Transports", func(t *testing.T) {
		s := newServer(t, engineio.Config{Transports: []string{"polling"}})
		_, hs := s.handshake(t)
		checkKeys(t, hs)
		if u := upgrades(t, hs); len(u) != 0 {
			t.Fatalf("upgrades = %v, want []", u)
		}
	})
	t.Run("distinct sids", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		a, _ := s.handshake(t)
		b, _ := s.handshake(t)
		if a == b {
			t.Fatalf("two handshakes got the same sid %q", a)
		}
	})
}

func TestBadRequests(t *testing.T) {
	s := newServer(t, engineio.Config{})
	sid, _ := s.handshake(t)
	wsBase := "ws" + strings.TrimPrefix(s.url, "http")
	cases := []struct {
		name, method, url string
	}{
		{"missing EIO", "GET", s.url + "?transport=polling"},
		{"EIO=3", "GET", s.url + "?EIO=3&transport=polling"},
		{"EIO not a number", "GET", s.url + "?EIO=abc&transport=polling"},
		{"missing transport", "GET", s.url + "?EIO=4"},
		{"unknown transport", "GET", s.url + "?EIO=4&transport=flash"},
		{"unknown sid GET", "GET", s.pollURL("nope")},
		{"unknown sid POST", "POST", s.pollURL("nope")},
		{"PUT", "PUT", s.pollURL(sid)},
		{"DELETE", "DELETE", s.pollURL(sid)},
		{"POST handshake", "POST", s.pollURL("")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := request(t, c.method, c.url, "4x", nil)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("%s %s: HTTP %d %q, want 400", c.method, c.url, resp.StatusCode, body)
			}
		})
	}
	for _, c := range []struct{ name, url string }{
		{"websocket unknown sid", wsBase + "?EIO=4&transport=websocket&sid=nope"},
		{"websocket missing EIO", wsBase + "?transport=websocket"},
		{"websocket bad EIO", wsBase + "?EIO=2&transport=websocket"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, resp, err := dialWS(t, c.url)
			if err == nil {
				t.Fatal("websocket accepted")
			}
			if resp == nil || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("want HTTP 400, got %v (%v)", resp, err)
			}
		})
	}
	t.Run("session survives a bad method", func(t *testing.T) {
		if code, body := s.post(t, sid, "4still"); code != 200 || body != "ok" {
			t.Fatalf("POST after PUT: %d %q", code, body)
		}
	})
}

func TestPolling(t *testing.T) {
	cfg := engineio.Config{}
	t.Run("payload with several packets and binary both ways", func(t *testing.T) {
		s := newServer(t, cfg)
		sid, _ := s.handshake(t)
		payload := "4hello\x1e4world\x1ebAQIDBA=="
		code, body := s.post(t, sid, payload)
		if code != http.StatusOK || body != "ok" {
			t.Fatalf("POST: HTTP %d %q, want 200 \"ok\"", code, body)
		}
		code, body = s.get(t, sid)
		if code != http.StatusOK || body != payload {
			t.Fatalf("GET: HTTP %d %q, want %q", code, body, payload)
		}
	})
	t.Run("server packets batched in one GET", func(t *testing.T) {
		s := newServer(t, cfg)
		sid, _ := s.handshake(t)
		ss := s.rec.session(t, sid)
		if err := ss.Send(engineio.MessageFrame([]byte("a")), engineio.Frame{Data: []byte{0xff, 0}, Binary: true}); err != nil {
			t.Fatal(err)
		}
		if err := ss.Send(engineio.MessageFrame([]byte("é€"))); err != nil {
			t.Fatal(err)
		}
		if code, body := s.get(t, sid); code != 200 || body != "4a\x1eb/wA=\x1e4é€" {
			t.Fatalf("GET: %d %q", code, body)
		}
	})
	t.Run("invalid packet in POST closes the session", func(t *testing.T) {
		s := newServer(t, cfg)
		for _, bad := range []string{"9x", "", "4a\x1e", "b!!!"} {
			sid, _ := s.handshake(t)
			code, body := s.post(t, sid, bad)
			if code != http.StatusBadRequest {
				t.Fatalf("POST %q: HTTP %d %q, want 400", bad, code, body)
			}
			if r := s.rec.closeReason(t, sid); r != engineio.ReasonTransportError {
				t.Fatalf("POST %q: close reason %q", bad, r)
			}
			if code, _ := s.get(t, sid); code != http.StatusBadRequest {
				t.Fatalf("GET after invalid POST %q: HTTP %d, want 400", bad, code)
			}
		}
	})
	t.Run("second concurrent GET", func(t *testing.T) {
		s := newServer(t, cfg)
		sid, _ := s.handshake(t)
		first := s.asyncGet(t, nil, sid)
		s.waitPollPending(t, sid)
		if code, body := s.get(t, sid); code != http.StatusBadRequest {
			t.Fatalf("second GET: HTTP %d %q, want 400", code, body)
		}
		r := awaitGet(t, first)
		if r.err != nil || r.status != 200 || r.body != "1" {
			t.Fatalf("first GET: %+v, want 200 \"1\"", r)
		}
		s.rec.closeReason(t, sid)
		if _, ok := s.srv.Session(sid); ok {
			t.Fatal("session still open")
		}
		if code, _ := s.get(t, sid); code != http.StatusBadRequest {
			t.Fatalf("GET after close: HTTP %d, want 400", code)
		}
	})
	t.Run("concurrent POSTs", func(t *testing.T) {
		s := newServer(t, cfg)
		sid, _ := s.handshake(t)
		ss := s.rec.session(t, sid)
		pr, pw := io.Pipe()
		firstDone := make(chan struct{})
		go func() {
			defer close(firstDone)
			resp, _, err := do(t, nil, http.MethodPost, s.pollURL(sid), pr, nil)
			_ = resp
			_ = err
		}()
		if _, err := pw.Write([]byte("4slow")); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the first POST to be read", func() bool { return engineio.PostPending(ss) })
		if code, body := s.post(t, sid, "4fast"); code != http.StatusBadRequest {
			t.Fatalf("overlapping POST: HTTP %d %q, want 400", code, body)
		}
		_ = pw.Close()
		select {
		case <-firstDone:
		case <-time.After(waitFor):
			t.Fatal("first POST never completed")
		}
		s.rec.closeReason(t, sid)
		if code, _ := s.get(t, sid); code != http.StatusBadRequest {
			t.Fatalf("GET after overlapping POSTs: HTTP %d, want 400", code)
		}
	})
	t.Run("sequential POSTs from many goroutines", func(t *testing.T) {
		// Many POSTs in turn (never two at once) are all delivered in order.
		s := newServer(t, cfg)
		sid, _ := s.handshake(t)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				mu.Lock()
				defer mu.Unlock()
				resp, body, err := do(t, nil, http.MethodPost, s.pollURL(sid), strings.NewReader("4m"), nil)
				if err != nil || resp.StatusCode != 200 || string(body) != "ok" {
					t.Errorf("POST: %v %v %q", err, resp, body)
				}
			}()
		}
		wg.Wait()
		n := 0
		for n < 20 {
			code, body := s.get(t, sid)
			if code != 200 {
				t.Fatalf("GET: %d", code)
			}
			for _, rec := range strings.Split(body, "\x1e") {
				if rec != "4m" {
					t.Fatalf("unexpected record %q", rec)
				}
				n++
			}
		}
	})
	t.Run("aborted GET closes the session", func(t *testing.T) {
		s := newServer(t, cfg)
		sid, _ := s.handshake(t)
		ctx, cancel := context.WithCancel(context.Background())
		ch := s.asyncGet(t, ctx, sid)
		s.waitPollPending(t, sid)
		cancel()
		if r := awaitGet(t, ch); r.err == nil {
			t.Fatalf("aborted GET returned %+v", r)
		}
		if r := s.rec.closeReason(t, sid); r != engineio.ReasonTransportClose {
			t.Fatalf("close reason %q, want %q", r, engineio.ReasonTransportClose)
		}
		if _, ok := s.srv.Session(sid); ok {
			t.Fatal("session still open")
		}
	})
	t.Run("close packet ends a pending GET with noop", func(t *testing.T) {
		s := newServer(t, cfg)
		sid, _ := s.handshake(t)
		ch := s.asyncGet(t, nil, sid)
		s.waitPollPending(t, sid)
		if code, body := s.post(t, sid, "1"); code != 200 || body != "ok" {
			t.Fatalf("POST close: %d %q", code, body)
		}
		if r := awaitGet(t, ch); r.err != nil || r.status != 200 || r.body != "6" {
			t.Fatalf("pending GET: %+v, want 200 \"6\"", r)
		}
		if r := s.rec.closeReason(t, sid); r != engineio.ReasonClientClose {
			t.Fatalf("close reason %q, want %q", r, engineio.ReasonClientClose)
		}
		if code, _ := s.get(t, sid); code != http.StatusBadRequest {
			t.Fatalf("GET after close: %d, want 400", code)
		}
	})
	t.Run("client ping answered with pong", func(t *testing.T) {
		s := newServer(t, cfg)
		sid, _ := s.handshake(t)
		s.post(t, sid, "2")
		if code, body := s.get(t, sid); code != 200 || body != "3" {
			t.Fatalf("GET: %d %q, want \"3\"", code, body)
		}
	})
}

var fastPing = engineio.Config{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond}

func TestHeartbeat(t *testing.T) {
	t.Run("polling 3 rounds", func(t *testing.T) {
		s := newServer(t, fastPing)
		sid, _ := s.handshake(t)
		for i := 0; i < 3; i++ {
			if code, body := s.get(t, sid); code != 200 || body != "2" {
				t.Fatalf("round %d: GET %d %q, want ping", i, code, body)
			}
			if code, body := s.post(t, sid, "3"); code != 200 || body != "ok" {
				t.Fatalf("round %d: POST pong %d %q", i, code, body)
			}
		}
		if s.rec.isClosed(sid) {
			t.Fatal("session closed despite pongs")
		}
	})
	t.Run("websocket 3 rounds", func(t *testing.T) {
		s := newServer(t, fastPing)
		c, sid, _ := s.openWS(t)
		for i := 0; i < 3; i++ {
			c.expectText(t, "2")
			c.send(t, "3")
		}
		if s.rec.isClosed(sid) {
			t.Fatal("session closed despite pongs")
		}
	})
	t.Run("polling ping timeout", func(t *testing.T) {
		s := newServer(t, fastPing)
		sid, _ := s.handshake(t)
		if code, body := s.get(t, sid); code != 200 || body != "2" {
			t.Fatalf("GET %d %q, want ping", code, body)
		}
		if r := s.rec.closeReason(t, sid); r != engineio.ReasonPingTimeout {
			t.Fatalf("close reason %q, want %q", r, engineio.ReasonPingTimeout)
		}
		if code, _ := s.get(t, sid); code != http.StatusBadRequest {
			t.Fatalf("GET after timeout: %d, want 400", code)
		}
	})
	t.Run("websocket ping timeout", func(t *testing.T) {
		s := newServer(t, fastPing)
		c, sid, _ := s.openWS(t)
		c.expectText(t, "2")
		c.expectClosed(t)
		if r := s.rec.closeReason(t, sid); r != engineio.ReasonPingTimeout {
			t.Fatalf("close reason %q, want %q", r, engineio.ReasonPingTimeout)
		}
	})
	t.Run("DisableMonitorClients keeps it open", func(t *testing.T) {
		cfg := fastPing
		cfg.DisableMonitorClients = true
		s := newServer(t, cfg)
		c, sid, _ := s.openWS(t)
		// Four unanswered pings span far more than pingInterval+pingTimeout.
		for i := 0; i < 4; i++ {
			c.expectText(t, "2")
		}
		if s.rec.isClosed(sid) {
			t.Fatal("session closed although monitoring is off")
		}
		c.send(t, "4alive")
		for {
			m := c.next(t)
			if string(m.data) == "4alive" {
				break
			}
		}
	})
}

func TestWebSocket(t *testing.T) {
	t.Run("text and binary messages", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		c, _, _ := s.openWS(t)
		c.send(t, "4héllo")
		c.expectText(t, "4héllo")
		if err := c.conn.WriteMessage(gws.OpcodeBinary, []byte{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		if m := c.next(t); !m.binary || !bytes.Equal(m.data, []byte{1, 2, 3}) {
			t.Fatalf("binary echo: %+v", m)
		}
		c.send(t, "2")
		c.expectText(t, "3")
	})
	t.Run("frame sizes in one batch", func(t *testing.T) {
		// One Send of many frames is one writev (or, for small batches and
		// over TLS, one buffer): every length encoding of the frame
		// header, text and binary, must arrive intact and in order.
		for _, tlsOn := range []bool{false, true} {
			start := newServer
			if tlsOn {
				start = newTLSServer
			}
			s := start(t, engineio.Config{})
			c, sid, _ := s.openWS(t)
			ss := s.rec.session(t, sid)
			var frames []engineio.Frame
			for i, n := range []int{0, 1, 125, 126, 127, 4095, 65535, 65536, 65537, 200000} {
				data := bytes.Repeat([]byte{'a' + byte(i)}, n)
				frames = append(frames, engineio.Frame{Data: data, Binary: true})
				frames = append(frames, engineio.Frame{Data: append([]byte("4"), data...)})
			}
			for _, batch := range [][]engineio.Frame{frames, frames[:4]} {
				if err := ss.Send(batch...); err != nil {
					t.Fatal(err)
				}
				for i, f := range batch {
					m := c.next(t)
					if m.binary != f.Binary || !bytes.Equal(m.data, f.Data) {
						t.Fatalf("tls=%v frame %d: got %d bytes (binary %v), want %d (binary %v)", tlsOn, i, len(m.data), m.binary, len(f.Data), f.Binary)
					}
				}
			}
			c.send(t, "2") // the connection still works both ways
			c.expectText(t, "3")
		}
	})
	t.Run("slow reader gets every frame intact", func(t *testing.T) {
		// A client that stops reading fills the socket: Send writes what
		// the kernel takes without waiting, often ending mid-frame, and a
		// writer goroutine finishes the frame and the rest once the
		// client reads again.
		const n, size = 150, 100_000 // 15 MB, far more than socket buffers
		// A budget for all of it: this test is about frames cut mid-way.
		s := newServer(t, engineio.Config{QueueBytes: n * size})
		c, sid, _ := s.openWS(t)
		ss := s.rec.session(t, sid)
		gate := make(chan struct{})
		c.gate(gate)
		for i := range n {
			data := bytes.Repeat([]byte{byte(i)}, size)
			data[0], data[size-1] = byte(i>>8), byte(i)
			if err := ss.Send(engineio.Frame{Data: data, Binary: true}); err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
		}
		close(gate)
		for i := range n {
			m := c.next(t)
			if !m.binary || len(m.data) != size || m.data[0] != byte(i>>8) || m.data[size-1] != byte(i) || m.data[size/2] != byte(i) {
				t.Fatalf("frame %d: %d bytes, binary %v, marks %d/%d/%d", i, len(m.data), m.binary, m.data[0], m.data[size/2], m.data[size-1])
			}
		}
		c.send(t, "2")
		c.expectText(t, "3")
	})
	t.Run("invalid packet closes", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		c, sid, _ := s.openWS(t)
		c.send(t, "x")
		c.expectClosed(t)
		if r := s.rec.closeReason(t, sid); r != engineio.ReasonTransportError {
			t.Fatalf("close reason %q", r)
		}
	})
	t.Run("client close", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		c, sid, _ := s.openWS(t)
		_ = c.conn.NetConn().Close()
		if r := s.rec.closeReason(t, sid); r != engineio.ReasonTransportClose {
			t.Fatalf("close reason %q, want %q", r, engineio.ReasonTransportClose)
		}
	})
}

func TestUpgrade(t *testing.T) {
	t.Run("probe, noop, upgrade, queued messages", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		sid, _ := s.handshake(t)
		ss := s.rec.session(t, sid)
		pending := s.asyncGet(t, nil, sid)
		s.waitPollPending(t, sid)

		c := mustDialWS(t, s.wsURL(sid))
		c.send(t, "2probe")
		c.expectText(t, "3probe")
		if r := awaitGet(t, pending); r.err != nil || r.status != 200 || r.body != "6" {
			t.Fatalf("pending GET during upgrade: %+v, want 200 \"6\"", r)
		}
		// Sent while the upgrade is in progress: must come on the websocket.
		if err := ss.Send(engineio.MessageFrame([]byte("q1")), engineio.MessageFrame([]byte("q2"))); err != nil {
			t.Fatal(err)
		}
		c.send(t, "5")
		c.expectText(t, "4q1")
		c.expectText(t, "4q2")
		if tr := ss.Transport(); tr != "websocket" {
			t.Fatalf("transport %q after upgrade", tr)
		}
		c.send(t, "4echo")
		c.expectText(t, "4echo")

		if code, _ := s.get(t, sid); code != http.StatusBadRequest {
			t.Fatalf("GET after upgrade: HTTP %d, want 400", code)
		}
		if code, _ := s.post(t, sid, "4x"); code != http.StatusBadRequest {
			t.Fatalf("POST after upgrade: HTTP %d, want 400", code)
		}
		// The spec: the server MUST close a second websocket of a session.
		second := mustDialWS(t, s.wsURL(sid))
		second.expectClosed(t)
		if s.rec.isClosed(sid) {
			t.Fatal("refused websocket closed the session")
		}
		c.send(t, "4still")
		c.expectText(t, "4still")
	})
	t.Run("second probe while upgrading refused", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		sid, _ := s.handshake(t)
		c := mustDialWS(t, s.wsURL(sid))
		c.send(t, "2probe")
		c.expectText(t, "3probe")
		second := mustDialWS(t, s.wsURL(sid))
		second.expectClosed(t)
		c.send(t, "5")
		c.send(t, "4ok")
		c.expectText(t, "4ok")
	})
	t.Run("UpgradeTimeout aborts the probe, polling keeps working", func(t *testing.T) {
		cfg := engineio.Config{UpgradeTimeout: 300 * time.Millisecond}
		s := newServer(t, cfg)
		sid, _ := s.handshake(t)
		ss := s.rec.session(t, sid)
		c := mustDialWS(t, s.wsURL(sid))
		c.send(t, "2probe")
		c.expectText(t, "3probe")
		c.expectClosed(t)
		if s.rec.isClosed(sid) {
			t.Fatal("session closed with its probe")
		}
		if tr := ss.Transport(); tr != "polling" {
			t.Fatalf("transport %q, want polling", tr)
		}
		if code, body := s.post(t, sid, "4after"); code != 200 || body != "ok" {
			t.Fatalf("POST after aborted upgrade: %d %q", code, body)
		}
		// A poll may first see the noop that ended the upgrade attempt.
		for {
			code, body := s.get(t, sid)
			if code != 200 {
				t.Fatalf("GET after aborted upgrade: %d %q", code, body)
			}
			if body == "6" {
				continue
			}
			if body != "4after" {
				t.Fatalf("GET after aborted upgrade: %q, want \"4after\"", body)
			}
			break
		}
	})
	t.Run("DisableUpgrades refuses", func(t *testing.T) {
		s := newServer(t, engineio.Config{DisableUpgrades: true})
		sid, _ := s.handshake(t)
		if _, resp, err := dialWS(t, s.wsURL(sid)); err == nil || resp == nil || resp.StatusCode != 400 {
			t.Fatalf("upgrade with DisableUpgrades: err=%v resp=%v, want HTTP 400", err, resp)
		}
	})
}

func TestMaxPayload(t *testing.T) {
	cfg := engineio.Config{MaxPayload: 100}
	t.Run("POST over MaxPayload", func(t *testing.T) {
		s := newServer(t, cfg)
		sid, _ := s.handshake(t)
		if code, body := s.post(t, sid, "4"+strings.Repeat("x", 99)); code != 200 || body != "ok" {
			t.Fatalf("POST of exactly MaxPayload: %d %q", code, body)
		}
		code, _ := s.post(t, sid, "4"+strings.Repeat("x", 200))
		if code != http.StatusRequestEntityTooLarge {
			t.Fatalf("POST over MaxPayload: HTTP %d, want 413", code)
		}
		s.rec.closeReason(t, sid)
		if code, _ := s.get(t, sid); code != http.StatusBadRequest {
			t.Fatalf("GET after oversized POST: %d, want 400", code)
		}
	})
	t.Run("websocket message over MaxPayload", func(t *testing.T) {
		s := newServer(t, cfg)
		c, sid, _ := s.openWS(t)
		c.send(t, "4"+strings.Repeat("y", 50))
		c.expectText(t, "4"+strings.Repeat("y", 50))
		c.send(t, "4"+strings.Repeat("y", 200))
		c.expectClosed(t)
		if r := s.rec.closeReason(t, sid); r != engineio.ReasonTransportError {
			t.Fatalf("close reason %q, want %q", r, engineio.ReasonTransportError)
		}
	})
}

func TestQueueLimit(t *testing.T) {
	s := newServer(t, engineio.Config{QueueLimit: 4})
	sid, _ := s.handshake(t)
	ss := s.rec.session(t, sid)
	for i := 0; i < 4; i++ {
		if err := ss.Send(engineio.MessageFrame([]byte("x"))); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := ss.Send(engineio.MessageFrame([]byte("x"))); !errors.Is(err, engineio.ErrQueueFull) {
		t.Fatalf("send over QueueLimit: %v, want ErrQueueFull", err)
	}
	if r := s.rec.closeReason(t, sid); r != engineio.ReasonTransportError {
		t.Fatalf("close reason %q, want %q", r, engineio.ReasonTransportError)
	}
	if err := ss.Send(engineio.MessageFrame([]byte("x"))); !errors.Is(err, engineio.ErrSessionClosed) {
		t.Fatalf("send after close: %v, want ErrSessionClosed", err)
	}
}

func TestCORS(t *testing.T) {
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	handshake := func(t *testing.T, s *testServer, origin string) *http.Response {
		t.Helper()
		var h http.Header
		if origin != "" {
			h = hdr("Origin", origin)
		}
		resp, _ := request(t, "GET", s.pollURL(""), "", h)
		return resp
	}
	const other = "http://other.example"

	t.Run("no Origin", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		resp := handshake(t, s, "")
		if resp.StatusCode != 200 {
			t.Fatalf("HTTP %d", resp.StatusCode)
		}
		if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
			t.Fatalf("Access-Control-Allow-Origin %q without Origin", v)
		}
	})
	t.Run("same origin allowed by default", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		resp := handshake(t, s, s.ts.URL)
		if resp.StatusCode != 200 {
			t.Fatalf("HTTP %d", resp.StatusCode)
		}
		if v := resp.Header.Get("Access-Control-Allow-Origin"); v != s.ts.URL {
			t.Fatalf("Access-Control-Allow-Origin %q, want %q", v, s.ts.URL)
		}
		if v := resp.Header.Get("Access-Control-Allow-Credentials"); v != "true" {
			t.Fatalf("Access-Control-Allow-Credentials %q, want true", v)
		}
	})
	t.Run("other origin refused by default", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		if resp := handshake(t, s, other); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("HTTP %d, want 400", resp.StatusCode)
		}
		if s.srv.Count() != 0 {
			t.Fatal("a session was opened for a refused origin")
		}
	})
	t.Run("list", func(t *testing.T) {
		s := newServer(t, engineio.Config{CORSAllowedOrigins: []string{"http://a.example", "http://b.example"}})
		for _, o := range []string{"http://a.example", "http://b.example"} {
			resp := handshake(t, s, o)
			if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != o {
				t.Fatalf("origin %s: HTTP %d, ACAO %q", o, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
			}
		}
		if resp := handshake(t, s, other); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("unlisted origin: HTTP %d, want 400", resp.StatusCode)
		}
		if resp := handshake(t, s, s.ts.URL); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("own origin not in list: HTTP %d, want 400", resp.StatusCode)
		}
	})
	t.Run("star", func(t *testing.T) {
		s := newServer(t, engineio.Config{CORSAllowedOrigins: []string{"*"}})
		resp := handshake(t, s, other)
		if resp.StatusCode != 200 {
			t.Fatalf("HTTP %d", resp.StatusCode)
		}
		if v := resp.Header.Get("Access-Control-Allow-Origin"); v != other && v != "*" {
			t.Fatalf("Access-Control-Allow-Origin %q", v)
		}
	})
	t.Run("DisableCORS", func(t *testing.T) {
		s := newServer(t, engineio.Config{DisableCORS: true})
		resp := handshake(t, s, other)
		if resp.StatusCode != 200 {
			t.Fatalf("HTTP %d", resp.StatusCode)
		}
		for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods"} {
			if v := resp.Header.Get(h); v != "" {
				t.Fatalf("%s %q with CORS disabled", h, v)
			}
		}
	})
	t.Run("preflight", func(t *testing.T) {
		s := newServer(t, engineio.Config{CORSAllowedOrigins: []string{other}})
		resp, _ := request(t, http.MethodOptions, s.pollURL(""), "", hdr(
			"Origin", other,
			"Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "content-type, x-custom",
		))
		if resp.StatusCode != 200 && resp.StatusCode != 204 {
			t.Fatalf("preflight: HTTP %d", resp.StatusCode)
		}
		methods := resp.Header.Get("Access-Control-Allow-Methods")
		for _, m := range []string{"GET", "POST", "OPTIONS"} {
			if !strings.Contains(methods, m) {
				t.Fatalf("Access-Control-Allow-Methods %q lacks %s", methods, m)
			}
		}
		if v := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(v, "content-type") || !strings.Contains(v, "x-custom") {
			t.Fatalf("Access-Control-Allow-Headers %q", v)
		}
		if v := resp.Header.Get("Access-Control-Allow-Origin"); v != other {
			t.Fatalf("Access-Control-Allow-Origin %q", v)
		}
		if v := resp.Header.Get("Access-Control-Allow-Credentials"); v != "true" {
			t.Fatalf("Access-Control-Allow-Credentials %q", v)
		}
		if s.srv.Count() != 0 {
			t.Fatal("preflight opened a session")
		}
	})
	t.Run("DisableCORSCredentials", func(t *testing.T) {
		s := newServer(t, engineio.Config{CORSAllowedOrigins: []string{"*"}, DisableCORSCredentials: true})
		resp := handshake(t, s, other)
		if resp.StatusCode != 200 {
			t.Fatalf("HTTP %d", resp.StatusCode)
		}
		if v := resp.Header.Get("Access-Control-Allow-Credentials"); v != "" {
			t.Fatalf("Access-Control-Allow-Credentials %q, want none", v)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Fatal("Access-Control-Allow-Origin missing")
		}
	})
	t.Run("websocket from other origin refused", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		c := &wsClient{msgs: make(chan wsMsg, 8), done: make(chan struct{})}
		_, resp, err := gws.NewClient(wsEvents{c}, &gws.ClientOption{Addr: s.wsURL(""), RequestHeader: hdr("Origin", other)})
		if err == nil || resp == nil || resp.StatusCode != 400 {
			t.Fatalf("websocket from other origin: err=%v resp=%v, want HTTP 400", err, resp)
		}
	})
}

func TestCompression(t *testing.T) {
	big := strings.Repeat("compressible ", 200) // 2600 bytes
	fetch := func(t *testing.T, cfg engineio.Config, msg, accept string) (*http.Response, []byte) {
		t.Helper()
		s := newServer(t, cfg)
		sid, _ := s.handshake(t)
		if err := s.rec.session(t, sid).Send(engineio.MessageFrame([]byte(msg))); err != nil {
			t.Fatal(err)
		}
		var h http.Header
		if accept != "" {
			h = http.Header{"Accept-Encoding": {accept}}
		}
		resp, body, err := do(t, nil, http.MethodGet, s.pollURL(sid), nil, h)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET: %v %v", err, resp)
		}
		return resp, body
	}
	t.Run("gzip", func(t *testing.T) {
		resp, body := fetch(t, engineio.Config{}, big, "gzip, deflate")
		if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
			t.Fatalf("Content-Encoding %q, want gzip", ce)
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil || string(plain) != "4"+big {
			t.Fatalf("gunzip: %v, %d bytes", err, len(plain))
		}
		if len(body) >= len(big) {
			t.Fatalf("compressed body %d bytes not smaller than %d", len(body), len(big))
		}
	})
	t.Run("deflate", func(t *testing.T) {
		resp, body := fetch(t, engineio.Config{}, big, "deflate")
		if ce := resp.Header.Get("Content-Encoding"); ce != "deflate" {
			t.Fatalf("Content-Encoding %q, want deflate", ce)
		}
		zr, err := zlib.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil || string(plain) != "4"+big {
			t.Fatalf("inflate: %v, %d bytes", err, len(plain))
		}
	})
	t.Run("below threshold", func(t *testing.T) {
		resp, body := fetch(t, engineio.Config{}, "small", "gzip")
		if ce := resp.Header.Get("Content-Encoding"); ce != "" || string(body) != "4small" {
			t.Fatalf("Content-Encoding %q body %q, want none and \"4small\"", ce, body)
		}
	})
	t.Run("custom threshold", func(t *testing.T) {
		resp, _ := fetch(t, engineio.Config{CompressionThreshold: 4}, "small", "gzip")
		if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
			t.Fatalf("Content-Encoding %q, want gzip", ce)
		}
	})
	t.Run("not accepted", func(t *testing.T) {
		for _, accept := range []string{"", "identity", "br"} {
			resp, body := fetch(t, engineio.Config{}, big, accept)
			if ce := resp.Header.Get("Content-Encoding"); ce != "" || string(body) != "4"+big {
				t.Fatalf("Accept-Encoding %q: Content-Encoding %q", accept, ce)
			}
		}
	})
	t.Run("NoCompress", func(t *testing.T) {
		// A response is compressed when one of its packets may be.
		s := newServer(t, engineio.Config{})
		sid, _ := s.handshake(t)
		ss := s.rec.session(t, sid)
		gzipped := func(frames ...engineio.Frame) bool {
			t.Helper()
			if err := ss.Send(frames...); err != nil {
				t.Fatal(err)
			}
			resp, _, err := do(t, nil, http.MethodGet, s.pollURL(sid), nil, http.Header{"Accept-Encoding": {"gzip"}})
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("GET: %v %v", err, resp)
			}
			return resp.Header.Get("Content-Encoding") == "gzip"
		}
		plain := engineio.Frame{Data: []byte("4" + big), NoCompress: true}
		if gzipped(plain, plain) {
			t.Fatal("a response of NoCompress packets was compressed")
		}
		if !gzipped(plain, engineio.MessageFrame([]byte("x"))) {
			t.Fatal("a response with a compressible packet was not compressed")
		}
	})
	t.Run("DisableCompression", func(t *testing.T) {
		resp, body := fetch(t, engineio.Config{DisableCompression: true}, big, "gzip, deflate")
		if ce := resp.Header.Get("Content-Encoding"); ce != "" || string(body) != "4"+big {
			t.Fatalf("Content-Encoding %q with compression disabled", ce)
		}
	})
}

func TestCookie(t *testing.T) {
	t.Run("set with the sid", func(t *testing.T) {
		s := newServer(t, engineio.Config{Cookie: &http.Cookie{Name: "io", HttpOnly: true}})
		resp, body := request(t, "GET", s.pollURL(""), "", nil)
		sid, _ := parseOpen(t, body)
		var found *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "io" {
				found = c
			}
		}
		if found == nil {
			t.Fatalf("no io cookie in %v", resp.Header["Set-Cookie"])
		}
		if found.Value != sid {
			t.Fatalf("cookie value %q, want sid %q", found.Value, sid)
		}
		if found.Path != "/" || !found.HttpOnly || found.SameSite != http.SameSiteLaxMode {
			t.Fatalf("cookie attributes %+v", found)
		}
	})
	t.Run("none by default", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		resp, _ := request(t, "GET", s.pollURL(""), "", nil)
		if c := resp.Header.Get("Set-Cookie"); c != "" {
			t.Fatalf("Set-Cookie %q without Config.Cookie", c)
		}
	})
}

func TestTransports(t *testing.T) {
	t.Run("polling only refuses websocket", func(t *testing.T) {
		s := newServer(t, engineio.Config{Transports: []string{"polling"}})
		_, resp, err := dialWS(t, s.wsURL(""))
		if err == nil || resp == nil || resp.StatusCode != 400 {
			t.Fatalf("websocket on polling-only server: err=%v resp=%v, want HTTP 400", err, resp)
		}
		sid, _ := s.handshake(t)
		if _, resp, err := dialWS(t, s.wsURL(sid)); err == nil || resp == nil || resp.StatusCode != 400 {
			t.Fatalf("upgrade on polling-only server: err=%v resp=%v, want HTTP 400", err, resp)
		}
	})
	t.Run("websocket only refuses polling", func(t *testing.T) {
		s := newServer(t, engineio.Config{Transports: []string{"websocket"}})
		if code, body := s.get(t, ""); code != http.StatusBadRequest {
			t.Fatalf("polling handshake on websocket-only server: %d %q, want 400", code, body)
		}
		s.openWS(t)
	})
}

func TestShutdown(t *testing.T) {
	s := newServer(t, engineio.Config{})
	psid, _ := s.handshake(t)
	pending := s.asyncGet(t, nil, psid)
	s.waitPollPending(t, psid)
	c, wsid, _ := s.openWS(t)

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, sid := range []string{psid, wsid} {
		if r := s.rec.closeReason(t, sid); r != engineio.ReasonShutdown {
			t.Fatalf("session %s: reason %q, want %q", sid, r, engineio.ReasonShutdown)
		}
	}
	if r := awaitGet(t, pending); r.err != nil || r.status != 200 || r.body != "1" {
		t.Fatalf("pending GET at shutdown: %+v, want 200 \"1\"", r)
	}
	c.expectClosed(t)
	if n := s.srv.Count(); n != 0 {
		t.Fatalf("%d sessions after Shutdown", n)
	}
	if code, _ := s.get(t, ""); code == http.StatusOK {
		t.Fatal("handshake accepted after Shutdown")
	}
}

// A client may send its close packet and its last poll at the same time;
// whichever arrives first, the poll is answered cleanly (noop), and only
// the poll after that is refused.
func TestClientCloseBeforePoll(t *testing.T) {
	s := newServer(t, engineio.Config{})
	sid, _ := s.handshake(t)
	if code, body := s.post(t, sid, "1"); code != http.StatusOK || body != "ok" {
		t.Fatalf("POST close: %d %q", code, body)
	}
	if code, body := s.get(t, sid); code != http.StatusOK || body != "6" {
		t.Fatalf("poll right after the close: %d %q, want 200 noop", code, body)
	}
	if code, _ := s.get(t, sid); code != http.StatusBadRequest {
		t.Fatalf("second poll after the close: %d, want 400", code)
	}
}
