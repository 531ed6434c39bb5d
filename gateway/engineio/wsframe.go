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
// Server frames are never masked, so a frame is a 2 to 10 byte header and
// the payload: the frame's data, or its permessage-deflate compression
// with RSV1 set where the connection negotiated that (deflate.go).
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

// rsv1 is the first header byte's bit that marks a compressed message.
const rsv1 = 0x40

// appendFrameHeader appends the header of a final, unmasked frame whose
// payload is n bytes long, compressed when deflated.
func appendFrameHeader(b []byte, binary, deflated bool, n int) []byte {
	b0 := byte(0x80 | gws.OpcodeText)
	if binary {
		b0 = byte(0x80 | gws.OpcodeBinary)
	}
	if deflated {
		b0 |= rsv1
	}
	b = append(b, b0)
	switch {
	case n < 126:
		return append(b, byte(n))
	case n <= 0xFFFF:
		return append(b, 126, byte(n>>8), byte(n))
	default:
		return append(b, 127, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// frameWriter is the scratch space of one batch, and what of it remains
// to be written: w.flat[off:] when flat, w.vec[vi:] otherwise.
type frameWriter struct {
	headers []byte
	vec     net.Buffers
	flat    []byte
	wire    []wireFrame // the batch as written
	z       []byte      // compressed payloads not shared with other sessions

	gather bool // the batch is w.vec, not w.flat
	off    int  // bytes of w.flat written
	vi     int  // slices of w.vec written (the next may be cut short)

	iov    []iovec // writev's view of w.vec (wswrite_linux.go)
	werr   error   // the error of the last non-blocking write
	writer func(uintptr) bool
}

// wireFrame is a frame's payload as written, and whether it is compressed.
type wireFrame struct {
	data           []byte
	binary, deflat bool
}

// frameWriters recycles scratch space between batches: it is needed only
// while a batch is written, so idle connections hold none.
type frameWriters struct {
	pool    sync.Pool
	deflate deflaters
}

func (p *frameWriters) get() *frameWriter {
	if w, ok := p.pool.Get().(*frameWriter); ok {
		return w
	}
	return &frameWriter{}
}

func (p *frameWriters) put(w *frameWriter) {
	if cap(w.headers) > 64<<10 || cap(w.vec) > 4096 || cap(w.flat) > 256<<10 ||
		cap(w.wire) > 4096 || cap(w.z) > 256<<10 || cap(w.iov) > 4096 {
		return // an outsized batch: let it go
	}
	clear(w.vec[:cap(w.vec)]) // drop the payload references
	clear(w.wire[:cap(w.wire)])
	clear(w.iov[:cap(w.iov)])
	w.headers, w.vec, w.flat, w.wire, w.z, w.iov = w.headers[:0], w.vec[:0], w.flat[:0], w.wire[:0], w.z[:0], w.iov[:0]
	w.gather, w.off, w.vi, w.werr = false, 0, 0, nil
	p.pool.Put(w)
}

// writeFrames writes frames to c as WebSocket messages, in order, with one
// Write or writev call; deflate says whether c negotiated permessage-deflate.
func (p *frameWriters) writeFrames(c net.Conn, deflate bool, frames []Frame) error {
	if len(frames) == 0 {
		return nil
	}
	w := p.get()
	defer p.put(w)
	_, tcp := c.(*net.TCPConn)
	// Elsewhere than on TCP, net.Buffers falls back to one Write per
	// slice, which another writer could interleave with: build one buffer.
	p.encode(w, deflate, tcp, frames)
	return w.writeRest(c)
}

// encode lays frames out in w as WebSocket messages: gathered (w.vec, a
// header slice before each payload in place, for writev) when gather
// allows and the batch is big enough, else copied into w.flat.
func (p *frameWriters) encode(w *frameWriter, deflate, gather bool, frames []Frame) {
	total := 0
	for i := range frames {
		f := wireFrame{data: frames[i].Data, binary: frames[i].Binary}
		if deflate {
			// Compressed bytes appended to w.z stay valid when a later
			// append moves w.z: the old array is left as it was.
			f.data, f.deflat = p.deflate.payload(&frames[i], &w.z)
		}
		w.wire = append(w.wire, f)
		total += len(f.data)
	}
	if !gather || total < flatBatch {
		// Small batches are cheaper copied than gathered.
		for _, f := range w.wire {
			w.flat = appendFrameHeader(w.flat, f.binary, f.deflat, len(f.data))
			w.flat = append(w.flat, f.data...)
		}
		return
	}
	w.gather = true
	if need := maxFrameHeader * len(frames); cap(w.headers) < need {
		w.headers = make([]byte, 0, need) // never grown below: vec points into it
	}
	for _, f := range w.wire {
		start := len(w.headers)
		w.headers = appendFrameHeader(w.headers, f.binary, f.deflat, len(f.data))
		w.vec = append(w.vec, w.headers[start:len(w.headers):len(w.headers)])
		if len(f.data) > 0 {
			w.vec = append(w.vec, f.data)
		}
	}
}

// done reports whether all of w's batch has been written.
func (w *frameWriter) done() bool {
	if w.gather {
		return w.vi == len(w.vec)
	}
	return w.off == len(w.flat)
}

// consume records n more bytes of the batch written.
func (w *frameWriter) consume(n int) {
	if !w.gather {
		w.off += n
		return
	}
	for n > 0 && w.vi < len(w.vec) {
		b := w.vec[w.vi]
		if n < len(b) {
			w.vec[w.vi] = b[n:]
			return
		}
		n -= len(b)
		w.vec[w.vi] = nil
		w.vi++
	}
}

// writeRest writes what remains of w's batch to c, waiting for the
// socket as long as it takes: one Write or writev call, which c
// serializes as a whole against its other writers.
func (w *frameWriter) writeRest(c net.Conn) error {
	if !w.gather {
		_, err := c.Write(w.flat[w.off:])
		w.off = len(w.flat)
		return err
	}
	vec := w.vec[w.vi:] // WriteTo consumes the slice it is called on
	_, err := vec.WriteTo(c)
	w.vi = len(w.vec)
	return err
}
