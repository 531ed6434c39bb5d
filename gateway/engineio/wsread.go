package engineio

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/lxzan/gws"
	eio "github.com/siogate/siogate/protocol/engineio"
)

// WebSocket messages are read here rather than by gws's ReadLoop, so that
// an idle connection costs no goroutine and no read buffer. gws's reader
// is a goroutine per connection, blocked in a read for the connection's
// whole life: with its 4 KiB stack (grown by the first message's handling,
// and never shrunk again while it waits) and its 512-byte buffer it was
// about half of what an idle connection cost.
//
// Here a connection's reader runs while there is something to read. When
// nothing has come for wsIdleAfter, and no partial frame is buffered, it
// gives its buffer back to a pool, hands the connection to the server's
// poller (wsidle_linux.go: an epoll set that wakes a new reader when the
// socket becomes readable) and ends. Connections that talk keep their
// reader, so the hot path is the same loop as before: a buffered read
// of the frame header, the payload read into a buffer of its own. Where
// there is no poller (other systems) the reader never parks.
//
// gws still performs the handshake and writes control frames (pong,
// close); data frames are written by wsframe.go.

// wsIdleAfter is how long a reader waits for a message before it parks
// its connection in the poller (Server.idleAfter; tests shorten it). The
// default heartbeat (a ping every 25s, answered at once) wakes each idle
// connection for about this long. A partial message (fragments) may
// park; a partial frame never does.
const wsIdleAfter = 2 * time.Second

// wsReaders recycles read buffers between readers: only running readers
// hold one.
var wsReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, wsReadBuffer) }}

// wsInflaters recycles permessage-deflate decompressors.
var wsInflaters sync.Pool

// deflateTail is the end of a flushed deflate block, which the sender
// strips from each compressed message (RFC 7692 section 7.2.2).
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// wsCloseError is a protocol violation: the connection is closed with its
// status code.
type wsCloseError struct {
	code uint16
	text string
}

func (e *wsCloseError) Error() string {
	return fmt.Sprintf("websocket: %s (status %d)", e.text, e.code)
}

// errPeerClosed is returned once the peer's close frame was answered.
var errPeerClosed = errors.New("websocket: closed by the peer")

// errIdle ends a reader that parked its connection.
var errIdle = errors.New("websocket: parked")

// Read feeds the connection's bufio.Reader: the bytes the HTTP server had
// read past the upgrade request first, then the socket.
func (w *wsSlot) Read(p []byte) (int, error) {
	if len(w.head) > 0 {
		n := copy(p, w.head)
		w.head = w.head[n:]
		if len(w.head) == 0 {
			w.head = nil
		}
		return n, nil
	}
	return w.nc.Read(p)
}

// startReader starts the connection's reader.
func (w *wsSlot) startReader() { go w.readLoop() }

// readLoop reads messages until the connection ends or parks.
func (w *wsSlot) readLoop() {
	if w.br == nil {
		w.br = wsReaders.Get().(*bufio.Reader)
		w.br.Reset(w)
	}
	for {
		if w.br.Buffered() == 0 && len(w.head) == 0 {
			if err := w.wait(); err != nil {
				if err == errIdle {
					return
				}
				w.end(err)
				return
			}
		}
		if err := w.readFrame(); err != nil {
			w.end(err)
			return
		}
	}
}

// wait blocks until the next frame starts arriving. When the server has a
// poller and nothing comes for wsIdleAfter, it parks the connection and
// returns errIdle.
func (w *wsSlot) wait() error {
	park := w.srv.canPark(w)
	for {
		if park && w.parkNow {
			// Look once without waiting: an expired deadline makes the
			// read below fail at once when nothing is there.
			w.parkNow = false
			w.deadline = time.Now()
			_ = w.nc.SetReadDeadline(w.deadline)
		} else if park {
			w.refreshDeadline()
		}
		_, err := w.br.Peek(1)
		if err == nil {
			return nil
		}
		if !isTimeout(err) {
			return err
		}
		if park && w.br.Buffered() == 0 {
			w.releaseBuffer()
			if w.srv.park(w) {
				return errIdle
			}
			w.br = wsReaders.Get().(*bufio.Reader)
			w.br.Reset(w)
		}
		w.deadline = time.Time{}
	}
}

// releaseBuffer gives the empty read buffer back to the pool.
func (w *wsSlot) releaseBuffer() {
	if w.br != nil {
		w.br.Reset(nil)
		wsReaders.Put(w.br)
		w.br = nil
	}
}

// refreshDeadline keeps the socket's read deadline between idleAfter/2
// and idleAfter ahead, setting it at most once per idleAfter/2.
func (w *wsSlot) refreshDeadline() {
	now := time.Now()
	idle := w.srv.idleAfter
	if w.deadline.Sub(now) < idle/2 {
		w.deadline = now.Add(idle)
		_ = w.nc.SetReadDeadline(w.deadline)
	}
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// readFull fills p; a read deadline meant for parking that expires in the
// middle of a frame is pushed back.
func (w *wsSlot) readFull(p []byte) error {
	for len(p) > 0 {
		n, err := w.br.Read(p)
		p = p[n:]
		if err != nil {
			if isTimeout(err) {
				w.deadline = time.Time{}
				w.refreshDeadline()
				continue
			}
			if err == io.EOF && len(p) > 0 {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// readFrame reads one frame and, when it completes a message, handles it.
func (w *wsSlot) readFrame() error {
	var h [8]byte
	if err := w.readFull(h[:2]); err != nil {
		return err
	}
	fin := h[0]&0x80 != 0
	compressed := h[0]&rsv1 != 0
	op := gws.Opcode(h[0] & 0x0f)
	if h[0]&0x30 != 0 || compressed && !w.deflate {
		return &wsCloseError{1002, "reserved bits set"}
	}
	if h[1]&0x80 == 0 {
		return &wsCloseError{1002, "unmasked client frame"}
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		if err := w.readFull(h[:2]); err != nil {
			return err
		}
		n = uint64(binary.BigEndian.Uint16(h[:2]))
	case 127:
		if err := w.readFull(h[:8]); err != nil {
			return err
		}
		n = binary.BigEndian.Uint64(h[:8])
	}
	var key [4]byte
	if err := w.readFull(key[:]); err != nil {
		return err
	}
	if op >= 8 {
		if !fin || n > 125 || compressed {
			return &wsCloseError{1002, "bad control frame"}
		}
		var buf [125]byte
		p := buf[:n]
		if err := w.readFull(p); err != nil {
			return err
		}
		mask(p, key)
		return w.control(op, p)
	}
	limit := uint64(w.srv.cfg.MaxPayload)
	switch op {
	case gws.OpcodeContinuation:
		if !w.inMsg || compressed {
			return &wsCloseError{1002, "unexpected continuation frame"}
		}
	case gws.OpcodeText, gws.OpcodeBinary:
		if w.inMsg {
			return &wsCloseError{1002, "new message inside a fragmented one"}
		}
	default:
		return &wsCloseError{1002, "reserved opcode"}
	}
	if n > limit || uint64(len(w.msg))+n > limit {
		return &wsCloseError{1009, "message too big"}
	}
	if fin && op != gws.OpcodeContinuation {
		// A whole message in one frame, the usual case: read straight into
		// a buffer of its own, which the packet may keep.
		p := make([]byte, n)
		if err := w.readFull(p); err != nil {
			return err
		}
		mask(p, key)
		return w.message(op, p, compressed)
	}
	if op != gws.OpcodeContinuation {
		w.inMsg, w.msgOp, w.msgZip = true, op, compressed
	}
	start := len(w.msg)
	w.msg = append(w.msg, make([]byte, n)...)
	if err := w.readFull(w.msg[start:]); err != nil {
		return err
	}
	mask(w.msg[start:], key)
	if !fin {
		return nil
	}
	msg, mop, zip := w.msg, w.msgOp, w.msgZip
	w.msg, w.inMsg = nil, false
	return w.message(mop, msg, zip)
}

// mask unmasks p in place (RFC 6455 section 5.3).
func mask(p []byte, key [4]byte) {
	k := binary.LittleEndian.Uint32(key[:])
	k64 := uint64(k) | uint64(k)<<32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k64)
	}
	for ; i < len(p); i++ {
		p[i] ^= key[i&3]
	}
}

// control handles a ping, pong or close frame.
func (w *wsSlot) control(op gws.Opcode, p []byte) error {
	switch op {
	case gws.OpcodePing:
		w.wmu.Lock()
		_ = w.conn.WritePong(p)
		w.wmu.Unlock()
		return nil
	case gws.OpcodePong:
		return nil
	case gws.OpcodeCloseConnection:
		// Answer with the peer's status when it is one an endpoint may
		// send, 1000 when there is none, 1002 when it is malformed
		// (RFC 6455 sections 5.5.1 and 7.4).
		var reply uint16 = 1000
		switch {
		case len(p) == 0:
		case len(p) == 1:
			reply = 1002
		default:
			code := binary.BigEndian.Uint16(p)
			switch {
			case code < 1000 || code >= 5000 || code >= 1016 && code < 3000,
				code == 1004 || code == 1005 || code == 1006 || code == 1014 || code == 1015:
				reply = 1002
			case code >= 3000:
				reply = code
			}
			if w.srv.checkUTF8 && !utf8.Valid(p[2:]) {
				reply = 1007
			}
		}
		w.wmu.Lock()
		_ = w.conn.WriteClose(reply, nil)
		w.wmu.Unlock()
		return errPeerClosed
	}
	return &wsCloseError{1002, "reserved opcode"}
}

// message handles one complete data message.
func (w *wsSlot) message(op gws.Opcode, data []byte, compressed bool) error {
	if compressed {
		var err error
		if data, err = inflate(data, w.srv.cfg.MaxPayload); err != nil {
			return err
		}
	}
	binary := op == gws.OpcodeBinary
	if !binary && w.srv.checkUTF8 && !utf8.Valid(data) {
		w.srv.stats.invalidUTF8.Add(1)
		w.srv.cfg.Logger.Debug("engineio: closing session on a text message that is not UTF-8", "sid", w.sid())
		return &wsCloseError{1007, "text message is not UTF-8"}
	}
	defer func() {
		if p := recover(); p != nil {
			w.srv.cfg.Logger.Error("engineio: panic handling a websocket message", "sid", w.sid(), "panic", p, "stack", string(debug.Stack()))
		}
	}()
	ss := w.session
	if ss == nil {
		return nil
	}
	if w.probing {
		ss.onProbeMessage(w.conn, data, binary)
		return nil
	}
	p, err := eio.DecodeFrame(data, binary)
	if err == nil {
		// A pong is what an idle client sends: the next packet is
		// likely a heartbeat away, so the reader parks at once.
		w.parkNow = p.Type == eio.Pong
		err = ss.handle(p)
	}
	if err != nil {
		ss.srv.cfg.Logger.Debug("engineio: closing session on bad packet", "sid", ss.id, "err", err)
		ss.closeWith(ReasonTransportError, false)
	}
	return nil
}

func (w *wsSlot) sid() string {
	if w.session == nil {
		return ""
	}
	return w.session.id
}

// inflate decompresses a permessage-deflate message, at most limit bytes.
func inflate(data []byte, limit int) ([]byte, error) {
	src := io.MultiReader(bytes.NewReader(data), bytes.NewReader(deflateTail))
	fr, _ := wsInflaters.Get().(io.ReadCloser)
	if fr == nil {
		fr = flate.NewReader(src)
	} else {
		_ = fr.(flate.Resetter).Reset(src, nil)
	}
	defer wsInflaters.Put(fr)
	out := make([]byte, 0, min(max(len(data)*4, 512), limit+1))
	for {
		if len(out) == cap(out) {
			if len(out) > limit {
				break
			}
			out = append(out, 0)[:len(out)]
		}
		n, err := fr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &wsCloseError{1007, "bad compressed message"}
		}
	}
	if len(out) > limit {
		return nil, &wsCloseError{1009, "message too big"}
	}
	return out, nil
}

// end closes the connection after its reader stopped on err.
func (w *wsSlot) end(err error) {
	w.srv.unpark(w)
	w.releaseBuffer()
	reason := ReasonTransportClose
	var ce *wsCloseError
	switch {
	case errors.As(err, &ce):
		reason = ReasonTransportError
		w.wmu.Lock()
		_ = w.conn.WriteClose(ce.code, []byte(ce.text))
		w.wmu.Unlock()
	case err == errPeerClosed || isEOF(err) || errors.Is(err, io.ErrUnexpectedEOF):
	default:
		reason = ReasonTransportError
	}
	_ = w.conn.NetConn().Close()
	ss := w.session
	if ss == nil {
		return
	}
	if w.probing {
		ss.abortUpgrade(w.conn)
		return
	}
	ss.closeWith(reason, false)
}
