package gateway_test

// permessage-deflate with the real client: socket.io-client from npm, in
// Node (engine.io-client over the ws package, which offers the extension
// by default), run by ../js/interop/client.mjs, scenarios deflate and
// deflate-off. Between the client and the gateway sits wireTap, a TCP
// proxy that parses the WebSocket frames going each way, so the test sees
// RSV1 and the bytes on the wire, and inflates with the standard
// library's compress/flate.

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/engineio"
)

// tapFrame is one WebSocket frame seen by the tap.
type tapFrame struct {
	rsv1 bool
	wire int    // header and payload bytes
	text string // the message, inflated when compressed
}

// wireTap proxies TCP connections to target and records the WebSocket
// frames they carry.
type wireTap struct {
	t      *testing.T
	ln     net.Listener
	target string

	mu         sync.Mutex
	down, up   []tapFrame // server to client, client to server
	extensions []string   // Sec-WebSocket-Extensions of the 101 answers
	conns      []net.Conn
}

func newWireTap(t *testing.T, target string) *wireTap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &wireTap{t: t, ln: ln, target: target}
	go w.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, c := range w.conns {
			_ = c.Close()
		}
	})
	return w
}

func (w *wireTap) url() string { return "http://" + w.ln.Addr().String() }

func (w *wireTap) accept() {
	for {
		client, err := w.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", w.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		w.mu.Lock()
		w.conns = append(w.conns, client, server)
		w.mu.Unlock()
		go w.relay(server, client, w.parseRequests)
		go w.relay(client, server, w.parseResponses)
	}
}

// relay copies src to dst, handing a copy of the bytes to parse.
func (w *wireTap) relay(dst, src net.Conn, parse func(*bufio.Reader)) {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		parse(bufio.NewReader(pr))
		_, _ = io.Copy(io.Discard, pr) // keep the relay going
	}()
	_, _ = io.Copy(dst, io.TeeReader(src, pw))
	_ = pw.Close()
	<-done
	_ = dst.Close()
}

func (w *wireTap) parseRequests(br *bufio.Reader) {
	req, err := http.ReadRequest(br)
	if err != nil || !strings.EqualFold(req.Header.Get("Upgrade"), "websocket") {
		return // a polling request: not looked at
	}
	w.frames(br, &w.up)
}

func (w *wireTap) parseResponses(br *bufio.Reader) {
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		return
	}
	w.mu.Lock()
	w.extensions = append(w.extensions, resp.Header.Values("Sec-WebSocket-Extensions")...)
	w.mu.Unlock()
	w.frames(br, &w.down)
}

// frames records data frames read from br into *into until the stream
// ends; control frames are skipped.
func (w *wireTap) frames(br *bufio.Reader, into *[]tapFrame) {
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return
		}
		size := 2
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return
			}
			n, size = uint64(binary.BigEndian.Uint16(b[:])), size+2
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return
			}
			n, size = binary.BigEndian.Uint64(b[:]), size+8
		}
		var mask [4]byte
		masked := h[1]&0x80 != 0
		if masked {
			if _, err := io.ReadFull(br, mask[:]); err != nil {
				return
			}
			size += 4
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return
		}
		if masked {
			for i := range payload {
				payload[i] ^= mask[i%4]
			}
		}
		if op := h[0] & 0x0f; op >= 8 {
			continue
		}
		f := tapFrame{rsv1: h[0]&0x40 != 0, wire: size + len(payload), text: string(payload)}
		if f.rsv1 {
			r := flate.NewReader(io.MultiReader(bytes.NewReader(payload), bytes.NewReader([]byte{0, 0, 0xff, 0xff})))
			plain, err := io.ReadAll(r)
			if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
				w.t.Errorf("the tap cannot inflate a %d byte frame: %v", len(payload), err)
			}
			f.text = string(plain)
		}
		w.mu.Lock()
		*into = append(*into, f)
		w.mu.Unlock()
	}
}

// find returns the first frame of dir whose message contains s.
func (w *wireTap) find(t *testing.T, dir *[]tapFrame, s string) tapFrame {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range *dir {
		if strings.Contains(f.text, s) {
			return f
		}
	}
	t.Fatalf("no frame carrying %q went by", s)
	return tapFrame{}
}

// deflatePayload is the repetitive text client.mjs builds too.
func deflatePayload(n int) string {
	const unit = `{"user":"someone","text":"the same words again"},`
	return strings.Repeat(unit, n/len(unit)+1)[:n]
}

// startDeflateGateway starts a gateway with WebSocket compression on and
// the handlers client.mjs's deflate scenarios talk to.
func startDeflateGateway(t *testing.T) string {
	t.Helper()
	srv := gateway.NewServer(gateway.Config{Engine: engineio.Config{WebSocketCompression: true}})
	root := srv.Of("/")
	root.On("compress-test", func(s *gateway.Socket, e *gateway.Event) []any {
		var n int
		if err := e.Args.Decode(0, &n); err != nil {
			t.Errorf("compress-test: %v", err)
		}
		p := deflatePayload(n)
		_ = s.Emit("big", p)
		_ = s.Namespace().To(s.ID()).Compress(false).Emit(context.Background(), "plain", p)
		_ = s.Namespace().To(s.ID()).Emit(context.Background(), "bcast", p)
		return nil
	})
	root.On("upload", func(s *gateway.Socket, e *gateway.Event) []any {
		var got string
		if err := e.Args.Decode(0, &got); err != nil {
			t.Errorf("upload: %v", err)
		}
		return []any{len(got), got == deflatePayload(len(got))}
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return strings.TrimPrefix(ts.URL, "http://")
}

func TestInteropDeflate(t *testing.T) {
	interopNode(t)
	const size = 20000 // client.mjs's deflateSize
	run := func(t *testing.T, transports, deflate string) *wireTap {
		t.Helper()
		tap := newWireTap(t, startDeflateGateway(t))
		scenario := "deflate"
		if deflate == "off" {
			scenario = "deflate-off"
		}
		p := runNode(t, "client.mjs", tap.url(), scenario, transports)
		var conn struct{ Transport string }
		p.expect("connect", &conn)
		var got struct{ Big, Plain, Bcast bool }
		p.expect("received", &got)
		if !got.Big || !got.Plain || !got.Bcast {
			t.Fatalf("the client received wrong payloads: %+v", got)
		}
		var up struct{ Ack []any }
		p.expect("uploaded", &up)
		equalJSON(t, "upload ack", up.Ack, `[20000, true]`)
		p.finish()
		return tap
	}
	check := func(t *testing.T, tap *wireTap, event string, compressed bool) {
		t.Helper()
		f := tap.find(t, &tap.down, `["`+event+`"`)
		if f.rsv1 != compressed {
			t.Fatalf("%q: RSV1 %v, want %v", event, f.rsv1, compressed)
		}
		if compressed && f.wire*4 > size {
			t.Fatalf("%q: %d bytes on the wire for a %d byte payload", event, f.wire, size)
		}
		t.Logf("%q: %d bytes on the wire, %d bytes of message", event, f.wire, len(f.text))
	}

	t.Run("websocket", func(t *testing.T) {
		tap := run(t, "websocket", "on")
		if len(tap.extensions) != 1 || !strings.HasPrefix(tap.extensions[0], "permessage-deflate") {
			t.Fatalf("Sec-WebSocket-Extensions answered: %q", tap.extensions)
		}
		check(t, tap, "big", true)    // socket.emit: compressed by default
		check(t, tap, "plain", false) // compress(false)
		check(t, tap, "bcast", true)  // a broadcast: compressed by default
		if f := tap.find(t, &tap.up, `["upload"`); !f.rsv1 {
			t.Fatal("the client did not compress its upload: the inflate path went untested")
		}
	})
	t.Run("after upgrade", func(t *testing.T) {
		tap := run(t, "polling,websocket", "on")
		check(t, tap, "big", true)
		check(t, tap, "plain", false)
	})
	t.Run("client without the extension", func(t *testing.T) {
		tap := run(t, "websocket", "off")
		if len(tap.extensions) != 0 {
			t.Fatalf("Sec-WebSocket-Extensions %q answered to a client that offered none", tap.extensions)
		}
		check(t, tap, "big", false)
		check(t, tap, "bcast", false)
		if f := tap.find(t, &tap.up, `["upload"`); f.rsv1 {
			t.Fatal("a compressed frame from a client that did not negotiate")
		}
	})
}
