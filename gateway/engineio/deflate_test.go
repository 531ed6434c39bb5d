package engineio_test

// permessage-deflate (RFC 7692) over real sockets, seen from a raw
// WebSocket client of the test's own: it sends the offers it is told to,
// and reads frame headers so that RSV1 and the bytes on the wire are
// visible. Compression and inflation on the test side use the standard
// library's compress/flate, not the server's compressor.

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/siogate/siogate/gateway/engineio"
)

const deflateAnswer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// rawWS is a WebSocket client working on the bytes.
type rawWS struct {
	conn net.Conn
	br   *bufio.Reader
	resp *http.Response
}

// rawFrame is one frame as received.
type rawFrame struct {
	rsv1    bool
	op      byte
	payload []byte
}

// dialRaw opens a WebSocket to the server's Engine.IO path (query is
// appended), offering extensions when not empty. It returns the client
// and the handshake response; the connection is usable only on 101.
func dialRaw(t testing.TB, s *testServer, query string, extensions ...string) *rawWS {
	t.Helper()
	return dialRawPath(t, s, "/engine.io/?EIO=4&transport=websocket"+query, extensions...)
}

// dialRawPath is dialRaw with the request's whole path and query.
func dialRawPath(t testing.TB, s *testServer, path string, extensions ...string) *rawWS {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.ts.Listener.Addr().String(), waitFor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	var key [16]byte
	_, _ = rand.Read(key[:])
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\n", path, s.ts.Listener.Addr())
	fmt.Fprintf(&req, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n",
		base64.StdEncoding.EncodeToString(key[:]))
	for _, e := range extensions {
		fmt.Fprintf(&req, "Sec-WebSocket-Extensions: %s\r\n", e)
	}
	req.WriteString("\r\n")
	_ = conn.SetDeadline(time.Now().Add(waitFor))
	if _, err := io.WriteString(conn, req.String()); err != nil {
		t.Fatal(err)
	}
	c := &rawWS{conn: conn, br: bufio.NewReader(conn)}
	c.resp, err = http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("reading the handshake response: %v", err)
	}
	return c
}

// read returns the next frame, failing on a close frame.
func (c *rawWS) read(t testing.TB) rawFrame {
	t.Helper()
	f := c.readAny(t)
	if f.op == 8 {
		t.Fatalf("the server closed the connection: % x", f.payload)
	}
	return f
}

// readAny returns the next frame, whatever it is.
func (c *rawWS) readAny(t testing.TB) rawFrame {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(waitFor))
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		t.Fatalf("reading a frame header: %v", err)
	}
	if h[1]&0x80 != 0 {
		t.Fatal("the server masked a frame")
	}
	if h[0]&0x80 == 0 {
		t.Fatal("a fragmented frame")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		_, _ = io.ReadFull(c.br, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, _ = io.ReadFull(c.br, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	f := rawFrame{rsv1: h[0]&0x40 != 0, op: h[0] & 0x0f, payload: make([]byte, n)}
	if _, err := io.ReadFull(c.br, f.payload); err != nil {
		t.Fatalf("reading a %d byte payload: %v", n, err)
	}
	return f
}

// message returns the next frame's message, inflated when RSV1 says so.
func (c *rawWS) message(t testing.TB) (rawFrame, []byte) {
	t.Helper()
	f := c.read(t)
	if !f.rsv1 {
		return f, f.payload
	}
	return f, inflate(t, f.payload)
}

// write sends one masked, final frame.
func (c *rawWS) write(t testing.TB, op byte, compressed bool, payload []byte) {
	t.Helper()
	b0 := 0x80 | op
	if compressed {
		b0 |= 0x40
	}
	c.send(t, maskedFrame(b0, payload))
}

// send writes b, a frame or several.
func (c *rawWS) send(t testing.TB, b []byte) {
	t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(waitFor))
	if _, err := c.conn.Write(b); err != nil {
		t.Fatal(err)
	}
}

// maskedFrame is a client's frame: first header byte b0 (FIN, RSV1,
// opcode) and the payload, masked.
func maskedFrame(b0 byte, payload []byte) []byte {
	b := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	b = append(b, mask[:]...)
	for i, x := range payload {
		b = append(b, x^mask[i%4])
	}
	return b
}

// open reads the Engine.IO open packet and returns the sid.
func (c *rawWS) open(t testing.TB) string {
	t.Helper()
	_, m := c.message(t)
	sid, _ := parseOpen(t, string(m))
	return sid
}

// inflate undoes permessage-deflate with the standard library.
func inflate(t testing.TB, payload []byte) []byte {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(payload), bytes.NewReader([]byte{0, 0, 0xff, 0xff})))
	out, err := io.ReadAll(r)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("inflating %d bytes: %v", len(payload), err)
	}
	return out
}

// deflate compresses a message as a permessage-deflate client does.
func deflate(t *testing.T, msg []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.DefaultCompression)
	_, _ = w.Write(msg)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// big is a repetitive message, above the threshold and the size at which
// a batch is gathered by writev rather than copied.
var big = strings.Repeat(`{"user":"someone","text":"the same words again"},`, 120)

func TestDeflateNegotiation(t *testing.T) {
	s := newServer(t, engineio.Config{WebSocketCompression: true})
	cases := []struct {
		name   string
		offers []string
		accept bool
	}{
		{"no offer", nil, false},
		{"bare", []string{"permessage-deflate"}, true},
		{"as node's ws offers", []string{"permessage-deflate; client_max_window_bits"}, true},
		{"as browsers offer", []string{"permessage-deflate; client_max_window_bits=15"}, true},
		{"every parameter", []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15; client_max_window_bits=9"}, true},
		{"quoted value", []string{`permessage-deflate; client_max_window_bits="10"`}, true},
		{"upper case", []string{"Permessage-Deflate; Client_Max_Window_Bits"}, true},
		{"smaller server window declined", []string{"permessage-deflate; server_max_window_bits=10"}, false},
		{"fallback offer accepted", []string{"permessage-deflate; server_max_window_bits=10, permessage-deflate"}, true},
		{"fallback on a second line", []string{"permessage-deflate; server_max_window_bits=9", "permessage-deflate; client_max_window_bits"}, true},
		{"other extension first", []string{"x-webkit-deflate-frame, permessage-deflate"}, true},
		{"unknown parameter", []string{"permessage-deflate; foo"}, false},
		{"repeated parameter", []string{"permessage-deflate; server_no_context_takeover; server_no_context_takeover"}, false},
		{"value on a flag", []string{"permessage-deflate; client_no_context_takeover=1"}, false},
		{"window too small", []string{"permessage-deflate; client_max_window_bits=7"}, false},
		{"window too large", []string{"permessage-deflate; client_max_window_bits=16"}, false},
		{"window not a number", []string{"permessage-deflate; client_max_window_bits=x"}, false},
		{"server window without value", []string{"permessage-deflate; server_max_window_bits"}, false},
		{"other extension only", []string{"x-webkit-deflate-frame"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ws := dialRaw(t, s, "", c.offers...)
			if ws.resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("HTTP %d, want 101", ws.resp.StatusCode)
			}
			got := ws.resp.Header.Values("Sec-WebSocket-Extensions")
			switch {
			case c.accept && (len(got) != 1 || got[0] != deflateAnswer):
				t.Fatalf("Sec-WebSocket-Extensions %q, want %q", got, deflateAnswer)
			case !c.accept && len(got) != 0:
				t.Fatalf("Sec-WebSocket-Extensions %q, want none", got)
			}
			// Either way the connection works, compressed or not.
			sid := ws.open(t)
			if err := s.rec.session(t, sid).Send(engineio.MessageFrame([]byte(big))); err != nil {
				t.Fatal(err)
			}
			f, m := ws.message(t)
			if f.rsv1 != c.accept || string(m) != "4"+big {
				t.Fatalf("RSV1 %v, %d bytes; want RSV1 %v and the message", f.rsv1, len(m), c.accept)
			}
		})
	}
	t.Run("off by default", func(t *testing.T) {
		s := newServer(t, engineio.Config{})
		ws := dialRaw(t, s, "", "permessage-deflate; client_max_window_bits")
		if got := ws.resp.Header.Get("Sec-WebSocket-Extensions"); got != "" {
			t.Fatalf("Sec-WebSocket-Extensions %q with compression off", got)
		}
		sid := ws.open(t)
		_ = s.rec.session(t, sid).Send(engineio.MessageFrame([]byte(big)))
		if f, m := ws.message(t); f.rsv1 || string(m) != "4"+big {
			t.Fatalf("RSV1 %v with compression off", f.rsv1)
		}
	})
}

func TestDeflateMessages(t *testing.T) {
	s := newServer(t, engineio.Config{WebSocketCompression: true})
	ws := dialRaw(t, s, "", "permessage-deflate; client_max_window_bits")
	sid := ws.open(t)
	ss := s.rec.session(t, sid)
	bin := bytes.Repeat([]byte{0, 1, 2, 3, 4, 5, 6, 7}, 400)

	t.Run("large text compressed", func(t *testing.T) {
		_ = ss.Send(engineio.MessageFrame([]byte(big)))
		f, m := ws.message(t)
		if !f.rsv1 || f.op != 1 {
			t.Fatalf("RSV1 %v opcode %d, want a compressed text frame", f.rsv1, f.op)
		}
		if string(m) != "4"+big {
			t.Fatalf("inflated to %d bytes, want the %d sent", len(m), len(big)+1)
		}
		if len(f.payload)*4 > len(big) {
			t.Fatalf("%d bytes on the wire for a %d byte repetitive message", len(f.payload), len(big))
		}
	})
	t.Run("below the threshold plain", func(t *testing.T) {
		_ = ss.Send(engineio.MessageFrame([]byte("small")))
		if f := ws.read(t); f.rsv1 || string(f.payload) != "4small" {
			t.Fatalf("RSV1 %v payload %q, want plain 4small", f.rsv1, f.payload)
		}
	})
	t.Run("NoCompress plain", func(t *testing.T) {
		_ = ss.Send(engineio.Frame{Data: []byte("4" + big), NoCompress: true})
		if f := ws.read(t); f.rsv1 || string(f.payload) != "4"+big {
			t.Fatalf("RSV1 %v, %d bytes, want the message plain", f.rsv1, len(f.payload))
		}
	})
	t.Run("incompressible plain", func(t *testing.T) {
		noise := make([]byte, 2000)
		_, _ = rand.Read(noise)
		_ = ss.Send(engineio.Frame{Data: noise, Binary: true})
		if f := ws.read(t); f.rsv1 || !bytes.Equal(f.payload, noise) {
			t.Fatalf("RSV1 %v, %d bytes, want random bytes sent as they are", f.rsv1, len(f.payload))
		}
	})
	t.Run("mixed batch in order", func(t *testing.T) {
		// One Send is one write: compressed and plain frames, text and
		// binary, side by side.
		_ = ss.Send(
			engineio.MessageFrame([]byte(big)),
			engineio.Frame{Data: bin, Binary: true},
			engineio.MessageFrame([]byte("tiny")),
			engineio.Frame{Data: bin, Binary: true, NoCompress: true},
			engineio.MessageFrame([]byte(big+big)),
		)
		want := []struct {
			rsv1 bool
			op   byte
			data string
		}{{true, 1, "4" + big}, {true, 2, string(bin)}, {false, 1, "4tiny"}, {false, 2, string(bin)}, {true, 1, "4" + big + big}}
		for i, w := range want {
			f, m := ws.message(t)
			if f.rsv1 != w.rsv1 || f.op != w.op || string(m) != w.data {
				t.Fatalf("frame %d: RSV1 %v opcode %d %d bytes, want RSV1 %v opcode %d %d bytes", i, f.rsv1, f.op, len(m), w.rsv1, w.op, len(w.data))
			}
		}
	})
	t.Run("compressed from the client", func(t *testing.T) {
		ws.write(t, 1, true, deflate(t, []byte("4"+big)))
		if _, m := ws.message(t); string(m) != "4"+big {
			t.Fatalf("echo of a compressed message: %d bytes", len(m))
		}
		ws.write(t, 2, true, deflate(t, bin))
		if f, m := ws.message(t); f.op != 2 || !bytes.Equal(m, bin) {
			t.Fatalf("echo of a compressed binary message: opcode %d, %d bytes", f.op, len(m))
		}
		ws.write(t, 1, true, deflate(t, []byte("4short")))
		if _, m := ws.message(t); string(m) != "4short" {
			t.Fatalf("echo of a short compressed message: %q", m)
		}
		ws.write(t, 1, false, []byte("4plain"))
		if _, m := ws.message(t); string(m) != "4plain" {
			t.Fatalf("echo of a plain message: %q", m)
		}
	})
	t.Run("bad compressed data closes", func(t *testing.T) {
		ws := dialRaw(t, s, "", "permessage-deflate")
		sid := ws.open(t)
		ws.write(t, 1, true, []byte{0xff, 0xff, 0xff, 0xff, 0xff})
		if r := s.rec.closeReason(t, sid); r != engineio.ReasonTransportError {
			t.Fatalf("closed with %q, want %q", r, engineio.ReasonTransportError)
		}
	})
	t.Run("RSV1 without the extension closes", func(t *testing.T) {
		ws := dialRaw(t, s, "")
		sid := ws.open(t)
		ws.write(t, 1, true, deflate(t, []byte("4hello")))
		if r := s.rec.closeReason(t, sid); r != engineio.ReasonTransportError {
			t.Fatalf("closed with %q, want %q", r, engineio.ReasonTransportError)
		}
	})
}

func TestDeflateShared(t *testing.T) {
	s := newServer(t, engineio.Config{WebSocketCompression: true})
	const n = 6
	clients := make([]*rawWS, n)
	sessions := make([]*engineio.Session, n)
	for i := range clients {
		offer := "permessage-deflate"
		if i == n-1 {
			offer = "" // one socket without the extension gets it plain
		}
		clients[i] = dialRaw(t, s, "", offer)
		sessions[i] = s.rec.session(t, clients[i].open(t))
	}
	broadcast := func(f engineio.Frame) {
		for _, ss := range sessions {
			if err := ss.Send(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	// receive checks that every client got the message, compressed as
	// wanted, and that the compressed ones got the same bytes.
	receive := func(compressed bool) {
		t.Helper()
		var wire []byte
		for i, c := range clients {
			f, m := c.message(t)
			if string(m) != "4"+big {
				t.Fatalf("client %d: %d bytes, want the message", i, len(m))
			}
			if want := compressed && i != n-1; f.rsv1 != want {
				t.Fatalf("client %d: RSV1 %v, want %v", i, f.rsv1, want)
			}
			if f.rsv1 {
				if wire != nil && !bytes.Equal(wire, f.payload) {
					t.Fatalf("client %d got other compressed bytes", i)
				}
				wire = f.payload
			}
		}
	}

	before := engineio.Deflations(s.srv)
	broadcast(engineio.MessageFrame([]byte(big)).Shared(true))
	receive(true)
	if d := engineio.Deflations(s.srv) - before; d != 1 {
		t.Fatalf("a shared frame sent to %d sockets was compressed %d times, want once", n, d)
	}

	before = engineio.Deflations(s.srv)
	broadcast(engineio.MessageFrame([]byte(big)).Shared(false))
	receive(false)
	if d := engineio.Deflations(s.srv) - before; d != 0 {
		t.Fatalf("Shared(false) compressed %d times", d)
	}

	before = engineio.Deflations(s.srv)
	broadcast(engineio.MessageFrame([]byte(big)))
	receive(true)
	if d := engineio.Deflations(s.srv) - before; d != n-1 {
		t.Fatalf("a frame that is not shared was compressed %d times, want once per compressing socket (%d)", d, n-1)
	}
}
