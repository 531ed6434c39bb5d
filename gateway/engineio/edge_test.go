package engineio_test

// Hostile clients beside well-behaved ones on the same server: text that
// is not UTF-8, POST bodies that never end, clients that stop reading.
// Each test asserts that the abuser is cut and that the other client
// keeps being served.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/siogate/siogate/gateway/engineio"
)

// writeFragment sends one masked frame, final or not; op is 0 for a
// continuation.
func (c *rawWS) writeFragment(t testing.TB, fin bool, op byte, payload []byte) {
	t.Helper()
	if fin {
		op |= 0x80
	}
	c.send(t, maskedFrame(op, payload))
}

// closeCode reads frames until the server's close frame and returns its
// status code.
func (c *rawWS) closeCode(t testing.TB) uint16 {
	t.Helper()
	for {
		f := c.readAny(t)
		if f.op != 8 {
			continue
		}
		if len(f.payload) < 2 {
			t.Fatalf("close frame without a status: % x", f.payload)
		}
		return binary.BigEndian.Uint16(f.payload)
	}
}

// echoes checks that a well-behaved WebSocket client is still served.
func echoes(t *testing.T, c *wsClient, text string) {
	t.Helper()
	c.send(t, "4"+text)
	c.expectText(t, "4"+text)
}

func TestInvalidUTF8WebSocket(t *testing.T) {
	cases := []struct {
		name  string
		frags [][]byte // one frame each, the first text, the others continuations
	}{
		{"invalid byte", [][]byte{[]byte("4abc\xffdef")}},
		{"truncated sequence at the end", [][]byte{[]byte("4price: \xe2\x82")}},
		{"surrogate half", [][]byte{[]byte("4\xed\xa0\x80")}},
		{"overlong encoding", [][]byte{[]byte("4\xc0\xaf")}},
		{"invalid across fragments", [][]byte{[]byte("4ok \xe2\x82"), []byte("\xe2\x82\xac")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, engineio.Config{})
			good, goodSID, _ := s.openWS(t)
			bad := dialRaw(t, s, "")
			badSID := bad.open(t)
			for i, f := range tc.frags {
				op := byte(0)
				if i == 0 {
					op = 1
				}
				bad.writeFragment(t, i == len(tc.frags)-1, op, f)
			}
			if code := bad.closeCode(t); code != 1007 {
				t.Fatalf("close status %d, want 1007", code)
			}
			if r := s.rec.closeReason(t, badSID); r != engineio.ReasonTransportError {
				t.Fatalf("abuser closed with %q, want %q", r, engineio.ReasonTransportError)
			}
			if n := s.srv.Stats().InvalidUTF8; n != 1 {
				t.Fatalf("Stats().InvalidUTF8 = %d, want 1", n)
			}
			echoes(t, good, "still here, héllo €")
			if s.rec.isClosed(goodSID) {
				t.Fatal("the well-behaved session was closed")
			}
		})
	}
	t.Run("valid multi-byte text across fragments", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		c := dialRaw(t, s, "")
		sid := c.open(t)
		c.writeFragment(t, false, 1, []byte("4price: \xe2\x82"))
		c.writeFragment(t, true, 0, []byte("\xac 5, 日本"))
		if _, m := c.message(t); string(m) != "4price: € 5, 日本" {
			t.Fatalf("echo %q", m)
		}
		if s.rec.isClosed(sid) {
			t.Fatal("session closed on valid UTF-8")
		}
	})
	t.Run("binary is not checked", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		c := dialRaw(t, s, "")
		c.open(t)
		c.write(t, 2, false, []byte{0xff, 0xfe, 0x00})
		if f, m := c.message(t); f.op != 2 || string(m) != "\xff\xfe\x00" {
			t.Fatalf("binary echo: op %d % x", f.op, m)
		}
	})
	t.Run("probe", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		sid, _ := s.handshake(t)
		probe := dialRaw(t, s, "&sid="+sid)
		probe.write(t, 1, false, []byte("2probe\xff"))
		if code := probe.closeCode(t); code != 1007 {
			t.Fatalf("probe close status %d, want 1007", code)
		}
		// The polling session is not the probe's to end.
		s.pollEcho(t, sid, "after")
	})
}

func TestInvalidUTF8Polling(t *testing.T) {
	s := newServer(t, engineio.Config{})
	goodSID, _ := s.handshake(t)
	badSID, _ := s.handshake(t)
	resp, body := request(t, http.MethodPost, s.pollURL(badSID), "4hello\x1e4w\xf0\x28\x8c\x28rld", nil)
	expectError(t, resp, body, http.StatusBadRequest, int(engineio.CodeBadRequest), "Bad request")
	if r := s.rec.closeReason(t, badSID); r != engineio.ReasonTransportError {
		t.Fatalf("abuser closed with %q, want %q", r, engineio.ReasonTransportError)
	}
	if code, _ := s.get(t, badSID); code != http.StatusBadRequest {
		t.Fatalf("GET of the closed session: HTTP %d, want 400", code)
	}
	if n := s.srv.Stats().InvalidUTF8; n != 1 {
		t.Fatalf("Stats().InvalidUTF8 = %d, want 1", n)
	}
	// Binary packets travel base64 in a payload, which stays UTF-8.
	s.pollEcho(t, goodSID, "héllo €\x1ebAQID")
}

// pollEcho posts a message for sid and polls its echo.
func (s *testServer) pollEcho(t *testing.T, sid, text string) {
	t.Helper()
	if code, body := s.post(t, sid, "4"+text); code != 200 || body != "ok" {
		t.Fatalf("POST of %q for %s: HTTP %d %q", text, sid, code, body)
	}
	if code, body := s.get(t, sid); code != 200 || body != "4"+text {
		t.Fatalf("GET of the echo of %q for %s: HTTP %d %q", text, sid, code, body)
	}
}

// endlessPost starts a chunked POST for sid on a raw connection and sends
// one chunk of it, never the end. It returns the connection's reader.
func endlessPost(t *testing.T, s *testServer, sid string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.ts.Listener.Addr().String(), waitFor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	req := fmt.Sprintf("POST /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: %s\r\n"+
		"Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n4hi\r\n",
		sid, s.ts.Listener.Addr())
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	return conn, bufio.NewReader(conn)
}

// cutResponse reads the answer to an endless POST and checks that the
// server then closed the connection.
func cutResponse(t *testing.T, conn net.Conn, br *bufio.Reader) *http.Response {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to the endless POST: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("the connection of the endless POST stayed open: %v", err)
	}
	return resp
}

func TestPostBodyTimeout(t *testing.T) {
	// A short ping timeout bounds the body read; the ping interval is
	// long, so no heartbeat runs during the test.
	s := newServer(t, engineio.Config{PingTimeout: 300 * time.Millisecond, PingInterval: time.Minute})
	goodSID, _ := s.handshake(t)
	badSID, _ := s.handshake(t)
	conn, br := endlessPost(t, s, badSID)
	bad := s.rec.session(t, badSID)
	eventually(t, "the endless POST to be read", func() bool { return engineio.PostPending(bad) })
	// The well-behaved client is served while the endless body is pending.
	s.pollEcho(t, goodSID, "during")
	resp := cutResponse(t, conn, br)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("endless POST answered HTTP %d, want 400", resp.StatusCode)
	}
	if r := s.rec.closeReason(t, badSID); r != engineio.ReasonTransportError {
		t.Fatalf("abuser closed with %q, want %q", r, engineio.ReasonTransportError)
	}
	if n := s.srv.Stats().BodyTimeouts; n != 1 {
		t.Fatalf("Stats().BodyTimeouts = %d, want 1", n)
	}
	s.pollEcho(t, goodSID, "after")
	if s.rec.isClosed(goodSID) {
		t.Fatal("the well-behaved session was closed")
	}
}

func TestPostStopsWhenSessionEnds(t *testing.T) {
	// The body deadline (the default ping timeout, 20s) is far beyond
	// waitFor: only the session's end can answer the POST in time.
	s := newServer(t, engineio.Config{})
	goodSID, _ := s.handshake(t)
	badSID, _ := s.handshake(t)
	conn, br := endlessPost(t, s, badSID)
	bad := s.rec.session(t, badSID)
	eventually(t, "the endless POST to be read", func() bool { return engineio.PostPending(bad) })
	bad.Close()
	resp := cutResponse(t, conn, br)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("POST of the ended session answered HTTP %d, want 400", resp.StatusCode)
	}
	eventually(t, "the POST to end", func() bool { return !engineio.PostPending(bad) })
	if n := s.srv.Stats().BodyTimeouts; n != 0 {
		t.Fatalf("Stats().BodyTimeouts = %d, want 0", n)
	}
	s.pollEcho(t, goodSID, "after")
}

// bigMessage is a 64 KiB message packet's payload.
var bigMessage = []byte(strings.Repeat("0123456789abcdef", 4096))

func TestQueueBytesWebSocket(t *testing.T) {
	const budget = 1 << 20
	s := newServer(t, engineio.Config{})
	if got := s.srv.Config().QueueBytes; got != budget {
		t.Fatalf("default QueueBytes %d, want %d", got, budget)
	}
	good, goodSID, _ := s.openWS(t)
	goodSS := s.rec.session(t, goodSID)
	bad := dialRaw(t, s, "")
	badSS := s.rec.session(t, bad.open(t))
	// The abuser reads nothing more, with as small a window as it gets.
	_ = bad.conn.(*net.TCPConn).SetReadBuffer(4096)

	want := "4" + string(bigMessage)
	sent := 0
	for ; sent < 2000 && !s.rec.isClosed(badSS.ID()); sent++ {
		f := engineio.MessageFrame(bigMessage).Shared(true)
		if err := goodSS.Send(f); err != nil {
			t.Fatalf("send %d to the well-behaved client: %v", sent, err)
		}
		err := badSS.Send(f)
		if err != nil && !errors.Is(err, engineio.ErrQueueFull) && !errors.Is(err, engineio.ErrSessionClosed) {
			t.Fatalf("send %d to the abuser: %v", sent, err)
		}
		if q := badSS.QueuedBytes(); q > budget {
			t.Fatalf("after %d broadcasts the abuser holds %d bytes, over the %d budget", sent+1, q, budget)
		}
		good.expectText(t, want)
	}
	if r := s.rec.closeReason(t, badSS.ID()); r != engineio.ReasonTransportError {
		t.Fatalf("abuser closed with %q, want %q", r, engineio.ReasonTransportError)
	}
	t.Logf("the abuser was cut after %d broadcasts of %d bytes", sent, len(want))
	if n := s.srv.Stats().SlowClients; n != 1 {
		t.Fatalf("Stats().SlowClients = %d, want 1", n)
	}
	if q := badSS.QueuedBytes(); q > budget {
		t.Fatalf("the closed abuser holds %d bytes", q)
	}
	if err := goodSS.Send(engineio.MessageFrame(bigMessage)); err != nil {
		t.Fatal(err)
	}
	good.expectText(t, want)
	echoes(t, good, "after")
}

func TestQueueBytesPolling(t *testing.T) {
	const budget = 256 << 10
	s := newServer(t, engineio.Config{QueueBytes: budget})
	goodSID, _ := s.handshake(t)
	badSID, _ := s.handshake(t)
	goodSS, badSS := s.rec.session(t, goodSID), s.rec.session(t, badSID)
	want := "4" + string(bigMessage)
	var full error
	for i := 0; i < 100 && full == nil; i++ {
		f := engineio.MessageFrame(bigMessage)
		if err := goodSS.Send(f); err != nil {
			t.Fatalf("send %d to the well-behaved client: %v", i, err)
		}
		full = badSS.Send(f) // the abuser never polls
		if q := badSS.QueuedBytes(); q > budget {
			t.Fatalf("after %d sends the abuser holds %d bytes, over the %d budget", i+1, q, budget)
		}
		if code, body := s.get(t, goodSID); code != 200 || body != want {
			t.Fatalf("GET %d of the well-behaved session: HTTP %d, %d bytes", i, code, len(body))
		}
	}
	if !errors.Is(full, engineio.ErrQueueFull) {
		t.Fatalf("the abuser's queue never filled: %v", full)
	}
	if r := s.rec.closeReason(t, badSID); r != engineio.ReasonTransportError {
		t.Fatalf("abuser closed with %q, want %q", r, engineio.ReasonTransportError)
	}
	if n := s.srv.Stats().SlowClients; n != 1 {
		t.Fatalf("Stats().SlowClients = %d, want 1", n)
	}
	if code, _ := s.get(t, badSID); code != http.StatusBadRequest {
		t.Fatalf("GET of the closed abuser: HTTP %d, want 400", code)
	}
	s.pollEcho(t, goodSID, "after")
}

func TestQueueBytesOneLargeMessage(t *testing.T) {
	// A message larger than the budget goes out when nothing waits.
	s := newServer(t, engineio.Config{QueueBytes: 1024})
	sid, _ := s.handshake(t)
	ss := s.rec.session(t, sid)
	if err := ss.Send(engineio.MessageFrame(bigMessage)); err != nil {
		t.Fatalf("one message over the budget with nothing queued: %v", err)
	}
	if err := ss.Send(engineio.MessageFrame([]byte("x"))); !errors.Is(err, engineio.ErrQueueFull) {
		t.Fatalf("a message behind it: %v, want ErrQueueFull", err)
	}
	if err := ss.Send(engineio.MessageFrame([]byte("x"))); !errors.Is(err, engineio.ErrQueueFull) && !errors.Is(err, engineio.ErrSessionClosed) {
		t.Fatalf("another one: %v", err)
	}
	s.rec.closeReason(t, sid)
	if n := s.srv.Stats().SlowClients; n != 1 {
		t.Fatalf("Stats().SlowClients = %d, want 1 (counted once)", n)
	}
}

func TestCORSCredentialsWithAnyOrigin(t *testing.T) {
	const listed, other = "http://app.example", "http://other.example"
	handshake := func(t *testing.T, s *testServer, origin string) *http.Response {
		t.Helper()
		resp, _ := request(t, http.MethodGet, s.pollURL(""), "", http.Header{"Origin": {origin}})
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != origin {
			t.Fatalf("origin %s: HTTP %d, Access-Control-Allow-Origin %q", origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
		return resp
	}
	credentials := func(resp *http.Response) string { return resp.Header.Get("Access-Control-Allow-Credentials") }

	s := newServer(t, engineio.Config{CORSAllowedOrigins: []string{listed, "*"}})
	if v := credentials(handshake(t, s, other)); v != "" {
		t.Fatalf("origin allowed by * alone: Access-Control-Allow-Credentials %q, want none", v)
	}
	if v := credentials(handshake(t, s, listed)); v != "true" {
		t.Fatalf("listed origin: Access-Control-Allow-Credentials %q, want true", v)
	}
	resp, _ := request(t, http.MethodOptions, s.pollURL(""), "", http.Header{"Origin": {other}, "Access-Control-Request-Method": {"POST"}})
	if v := credentials(resp); v != "" {
		t.Fatalf("preflight from an origin allowed by *: Access-Control-Allow-Credentials %q", v)
	}

	s = newServer(t, engineio.Config{CORSAllowedOrigins: []string{"*"}, CORSCredentialsWithAnyOrigin: true})
	if v := credentials(handshake(t, s, other)); v != "true" {
		t.Fatalf("CORSCredentialsWithAnyOrigin: Access-Control-Allow-Credentials %q, want true", v)
	}
}

// TestForwardedHeadersTrusted: the same-origin check believes
// X-Forwarded-Host and X-Forwarded-Proto only from TrustedProxies; a
// client that forges them is refused beside a same-origin client served.
func TestForwardedHeadersTrusted(t *testing.T) {
	const site = "https://app.example"
	forged := http.Header{"Origin": {site}, "X-Forwarded-Host": {"app.example"}, "X-Forwarded-Proto": {"https"}}
	for _, c := range []struct {
		name    string
		proxies []netip.Prefix
		trusted bool
	}{
		{"no proxies", nil, false},
		{"other proxies", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}, false},
		{"this peer", []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newServer(t, engineio.Config{TrustedProxies: c.proxies})
			resp, _ := request(t, http.MethodGet, s.pollURL(""), "", forged)
			wsc := &wsClient{msgs: make(chan wsMsg, 8), done: make(chan struct{})}
			conn, wsResp, err := gws.NewClient(wsEvents{wsc}, &gws.ClientOption{Addr: s.wsURL(""), RequestHeader: forged})
			if err == nil {
				t.Cleanup(func() { _ = conn.NetConn().Close() })
			}
			if c.trusted {
				if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != site {
					t.Fatalf("forwarded by a trusted proxy: HTTP %d, ACAO %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
				}
				if err != nil {
					t.Fatalf("websocket forwarded by a trusted proxy: %v", err)
				}
			} else {
				if resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("forged forwarded headers: HTTP %d, want 400", resp.StatusCode)
				}
				if err == nil || wsResp == nil || wsResp.StatusCode != http.StatusBadRequest {
					t.Fatalf("websocket with forged forwarded headers: err=%v resp=%v, want HTTP 400", err, wsResp)
				}
				if n := s.srv.Count(); n != 0 {
					t.Fatalf("%d sessions opened for forged headers", n)
				}
			}
			// The well-behaved client, of the server's own origin.
			resp, body := request(t, http.MethodGet, s.pollURL(""), "", http.Header{"Origin": {s.ts.URL}})
			if resp.StatusCode != 200 || !strings.HasPrefix(body, "0{") {
				t.Fatalf("same-origin handshake: HTTP %d %q", resp.StatusCode, body)
			}
		})
	}
}
