package engineio

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/flate"
)

// WebSocket permessage-deflate (RFC 7692), as this server does it.
//
// The server always answers an accepted offer with
//
//	permessage-deflate; server_no_context_takeover; client_no_context_takeover
//
// server_no_context_takeover makes every message the server sends a
// deflate stream of its own. That is what lets a broadcast be compressed
// once: the compressed bytes do not depend on what the connection carried
// before, so the same bytes are written to every socket (see
// Frame.Shared), and a connection holds no compressor between writes.
// client_no_context_takeover, which RFC 7692 lets a server ask for even
// when the client did not offer it, does the same for the other direction:
// inflating a client's message needs no 32 KiB window kept per connection.
// Idle connections thus cost nothing more with compression on.
//
// Offers are read in the client's order of preference and the first one
// this server can honour is accepted. An offer with an unknown parameter,
// a repeated one, or a malformed value is declined (RFC 7692 section 5.1);
// so is one with server_max_window_bits below 15, since this server's
// compressor uses the full 32 KiB window. client_max_window_bits needs no
// answer: the inflater reads any window size. With no acceptable offer the
// connection simply runs without the extension.

const (
	extensionsHeader = "Sec-Websocket-Extensions"
	// deflateResponse is the one extension response this server gives.
	deflateResponse = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	// deflateLevel trades ratio for speed. A message that is not a
	// broadcast is compressed once for every write, so the fastest level
	// is used; repetitive JSON still shrinks several times over.
	deflateLevel = flate.BestSpeed
)

// acceptDeflate reports whether one of the permessage-deflate offers in h
// (every Sec-WebSocket-Extensions line of a request) can be accepted.
func acceptDeflate(h http.Header) bool {
	for _, line := range h.Values(extensionsHeader) {
		for _, ext := range splitQuoted(line, ',') {
			if deflateOfferOK(ext) {
				return true
			}
		}
	}
	return false
}

// deflateOfferOK checks one extension offer: its name, then each parameter
// against RFC 7692 section 7.1.
func deflateOfferOK(ext string) bool {
	parts := splitQuoted(ext, ';')
	if !strings.EqualFold(strings.TrimSpace(parts[0]), "permessage-deflate") {
		return false
	}
	seen := map[string]bool{}
	for _, p := range parts[1:] {
		name, value, hasValue := strings.Cut(strings.TrimSpace(p), "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if seen[name] {
			return false
		}
		seen[name] = true
		value = strings.TrimSpace(value)
		if unq, err := strconv.Unquote(value); err == nil && strings.HasPrefix(value, `"`) {
			value = unq
		}
		switch name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if hasValue {
				return false
			}
		case "server_max_window_bits":
			// Required value; only the full window is within this
			// server's means.
			if !hasValue || value != "15" {
				return false
			}
		case "client_max_window_bits":
			if hasValue && !windowBits(value) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// windowBits reports whether v is a window size parameter value: a
// decimal 8 to 15 without leading zeros.
func windowBits(v string) bool {
	n, err := strconv.Atoi(v)
	return err == nil && n >= 8 && n <= 15 && strconv.Itoa(n) == v
}

// splitQuoted splits s at sep outside double-quoted strings.
func splitQuoted(s string, sep byte) []string {
	var out []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// deflated is a frame's compressed payload, computed by the first write
// that needs it and shared by every later one.
type deflated struct {
	once sync.Once
	data []byte // nil when compressing did not make the payload smaller
}

// Shared returns f ready to be queued on many sessions, as a broadcast is.
// With compress false the frame is marked NoCompress. Otherwise it carries
// a cache: on the WebSockets that negotiated permessage-deflate, the first
// write that needs it compresses the payload, once, and every socket is
// written those same bytes.
func (f Frame) Shared(compress bool) Frame {
	f.NoCompress = f.NoCompress || !compress
	if !f.NoCompress {
		f.z = new(deflated)
	}
	return f
}

// deflaters compresses payloads. A compressor is needed only while it
// runs, so they are pooled rather than kept per connection.
type deflaters struct {
	threshold int
	pool      sync.Pool    // of *deflater
	count     atomic.Int64 // payloads compressed, for tests
}

// deflater is a compressor and the buffer it writes to.
type deflater struct {
	w   *flate.Writer
	out appender
}

// wants reports whether f is compressed on a connection that negotiated
// permessage-deflate.
func (d *deflaters) wants(f *Frame) bool {
	return !f.NoCompress && len(f.Data) >= d.threshold
}

// payload returns the bytes f is sent as on a connection that negotiated
// permessage-deflate, and whether they are compressed. Compressed bytes
// not shared through f's cache are appended to *scratch.
func (d *deflaters) payload(f *Frame, scratch *[]byte) ([]byte, bool) {
	if !d.wants(f) {
		return f.Data, false
	}
	if z := f.z; z != nil {
		z.once.Do(func() {
			if out := d.compress(nil, f.Data); len(out) > 0 {
				z.data = out
			}
		})
		if z.data == nil {
			return f.Data, false
		}
		return z.data, true
	}
	start := len(*scratch)
	out := d.compress(*scratch, f.Data)
	if out == nil {
		return f.Data, false
	}
	*scratch = out
	return out[start:len(out):len(out)], true
}

// compress appends the permessage-deflate payload of src to dst. It
// returns nil when that would not be shorter than src.
func (d *deflaters) compress(dst, src []byte) []byte {
	d.count.Add(1)
	z, _ := d.pool.Get().(*deflater)
	if z == nil {
		z = new(deflater)
		z.w, _ = flate.NewWriter(&z.out, deflateLevel)
	}
	start := len(dst)
	z.out.b = dst
	z.w.Reset(&z.out)     // a new stream: no context taken over
	_, _ = z.w.Write(src) // writing to an appender cannot fail
	_ = z.w.Flush()
	out := z.out.b
	z.out.b = nil // keep no reference to the output
	d.pool.Put(z)
	// A flushed stream ends with an empty stored block, 00 00 ff ff, which
	// the receiver adds back (RFC 7692 section 7.2.1).
	out = bytes.TrimSuffix(out, []byte{0, 0, 0xff, 0xff})
	if len(out)-start >= len(src) {
		return nil
	}
	return out
}

// appender is an io.Writer appending to a slice.
type appender struct{ b []byte }

func (a *appender) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}
