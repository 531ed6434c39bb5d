package engineio

import (
	"net"
	"sync"

	"github.com/lxzan/gws"
)

// WebSocket frames are written here rather than by gws's WriteMessage, for
// two reasons. gws copies every payload into a pooled frame buffer before
// writing it (a 64 KiB attachment costs a 64 KiB copy, and a 128 KiB buffer
// whenever its pool runs dry); and it makes one write call per message, so
// a queue of n frames costs n syscalls. Here a batch of frames becomes one
// header per frame, each followed by its payload in place, handed to the
// kernel in a single writev.
//
// Server frames are never masked and this server never negotiates
// permessage-deflate, so a frame is a 2 to 10 byte header and the payload.
// gws still writes its own control frames (pong, close) on the same
// connection; each of its writes and each batch here is a single Write or
// writev call, which net.Conn implementations serialize as a whole (the TCP
// file descriptor's write lock, tls.Conn's output lock), so frames never
// interleave.

// flatBatch is the batch size, in payload bytes, below which frames are
// copied into one buffer rather than gathered by writev.
const flatBatch = 4096

// maxFrameHeader is the longest header of an unmasked frame.
const maxFrameHeader = 10

// appendFrameHeader appends the header of a final, unmasked frame whose
// payload is n bytes long.
func appendFrameHeader(b []byte, binary bool, n int) []byte {
	op := byte(gws.OpcodeText)
	if binary {
		op = byte(gws.OpcodeBinary)
	}
	b = append(b, 0x80|op)
	switch {
	case n < 126:
		return append(b, byte(n))
	case n <= 0xFFFF:
		return append(b, 126, byte(n>>8), byte(n))
	default:
		return append(b, 127, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// frameWriter is the scratch space of one batch.
type frameWriter struct {
	headers []byte
	vec     net.Buffers
	flat    []byte
}

// frameWriters recycles scratch space between batches: it is needed only
// while a batch is written, so idle connections hold none.
type frameWriters struct{ pool sync.Pool }

func (p *frameWriters) get() *frameWriter {
	if w, ok := p.pool.Get().(*frameWriter); ok {
		return w
	}
	return &frameWriter{}
}

func (p *frameWriters) put(w *frameWriter) {
	if cap(w.headers) > 64<<10 || cap(w.vec) > 4096 || cap(w.flat) > 256<<10 {
		return // an outsized batch: let it go
	}
	clear(w.vec[:cap(w.vec)]) // drop the payload references
	w.headers, w.vec, w.flat = w.headers[:0], w.vec[:0], w.flat[:0]
	p.pool.Put(w)
}

// writeFrames writes frames to c as WebSocket messages, in order, with one
// Write or writev call.
func (p *frameWriters) writeFrames(c net.Conn, frames []Frame) error {
	if len(frames) == 0 {
		return nil
	}
	w := p.get()
	defer p.put(w)
	total := 0
	for _, f := range frames {
		total += len(f.Data)
	}
	if _, ok := c.(*net.TCPConn); !ok || total < flatBatch {
		// Small batches are cheaper copied than gathered. Elsewhere than
		// on TCP, net.Buffers falls back to one Write per slice, which
		// another writer could interleave with: build one buffer.
		for _, f := range frames {
			w.flat = appendFrameHeader(w.flat, f.Binary, len(f.Data))
			w.flat = append(w.flat, f.Data...)
		}
		_, err := c.Write(w.flat)
		return err
	}
	if need := maxFrameHeader * len(frames); cap(w.headers) < need {
		w.headers = make([]byte, 0, need) // never grown below: vec points into it
	}
	for _, f := range frames {
		start := len(w.headers)
		w.headers = appendFrameHeader(w.headers, f.Binary, len(f.Data))
		w.vec = append(w.vec, w.headers[start:len(w.headers):len(w.headers)])
		if len(f.Data) > 0 {
			w.vec = append(w.vec, f.Data)
		}
	}
	vec := w.vec // WriteTo consumes the slice it is called on
	_, err := vec.WriteTo(c)
	return err
}
