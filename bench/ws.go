package bench

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// wsClient is one raw Engine.IO v4 / Socket.IO v5 WebSocket client.
type wsClient struct {
	r       *runner
	conn    *gws.Conn
	open    chan struct{} // the Engine.IO open packet came
	ready   chan struct{} // the namespace CONNECT answer came
	done    chan bool     // the awaited ack came (false: it was wrong)
	closing atomic.Bool

	// The ack being awaited: its id, and for binary acks the attachment
	// size once the header came.
	ackID      atomic.Uint64
	ackBody    []byte // expected ack arguments, "[...]" (echo)
	binary     bool
	wantBinary atomic.Int64 // > 0: expecting an attachment of that size

	onTick func(b []byte) // "tick" events (broadcast)
	local  net.IP         // source address to bind (nil: any)

	buf []byte // the outgoing frame, reused
}

func newWSClient(r *runner) *wsClient {
	return &wsClient{
		r:     r,
		open:  make(chan struct{}, 1),
		ready: make(chan struct{}, 1),
		done:  make(chan bool, 1),
	}
}

// dial opens the WebSocket and joins the main namespace.
func (c *wsClient) dial(addr string) error {
	url := "ws://" + addr + c.r.cfg.Path + "?EIO=4&transport=websocket"
	opt := &gws.ClientOption{Addr: url, HandshakeTimeout: c.r.cfg.Timeout}
	if c.local != nil {
		d := sourceDialer(c.local, c.r.cfg.Timeout)
		opt.NewDialer = func() (gws.Dialer, error) { return d, nil }
	}
	conn, _, err := gws.NewClient(c, opt)
	if err != nil {
		return err
	}
	c.conn = conn
	go conn.ReadLoop()
	if err := c.wait(c.open, "open packet"); err != nil {
		c.close()
		return err
	}
	if err := conn.WriteString("40"); err != nil {
		c.close()
		return err
	}
	if err := c.wait(c.ready, "CONNECT answer"); err != nil {
		c.close()
		return err
	}
	return nil
}

func (c *wsClient) wait(ch chan struct{}, what string) error {
	t := time.NewTimer(c.r.cfg.Timeout)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		return fmt.Errorf("bench: no %s within %v", what, c.r.cfg.Timeout)
	case <-c.r.ctx.Done():
		return c.r.ctx.Err()
	}
}

// close ends the connection abortively (SO_LINGER 0: a reset, no FIN):
// the generator closes first, so an orderly close would leave the
// client's end in TIME_WAIT for 60s, holding a port of its source
// address, and back-to-back runs of 19,500 connections from a few
// source addresses would run short of ports (see sourceDialer).
func (c *wsClient) close() {
	c.closing.Store(true)
	if c.conn != nil {
		if tc, ok := c.conn.NetConn().(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.conn.NetConn().Close()
	}
}

func signal[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
	}
}

// OnOpen implements gws.Event.
func (c *wsClient) OnOpen(*gws.Conn) {}

// OnPing implements gws.Event.
func (c *wsClient) OnPing(conn *gws.Conn, p []byte) { _ = conn.WritePong(p) }

// OnPong implements gws.Event.
func (c *wsClient) OnPong(*gws.Conn, []byte) {}

// OnClose implements gws.Event.
func (c *wsClient) OnClose(_ *gws.Conn, err error) {
	if !c.closing.Load() && !c.r.stopping.Load() {
		c.r.fail(false, "server closed a connection: %v", err)
	}
	signal(c.done, false)
}

var (
	tickHead = []byte(`42["tick",`)
	ackHead  = []byte("43")
	backHead = []byte("461-")
)

// OnMessage implements gws.Event: it dispatches one Engine.IO packet.
func (c *wsClient) OnMessage(conn *gws.Conn, m *gws.Message) {
	defer m.Close()
	b := m.Bytes()
	if m.Opcode == gws.OpcodeBinary {
		want := c.wantBinary.Swap(0)
		if want == 0 || int64(len(b)) != want {
			c.r.fail(true, "unexpected binary frame of %d bytes (want %d)", len(b), want)
			signal(c.done, false)
			return
		}
		signal(c.done, true)
		return
	}
	switch {
	case len(b) == 0:
		c.r.fail(true, "empty frame")
	case bytes.HasPrefix(b, tickHead):
		if c.onTick != nil {
			c.onTick(b)
		}
	case bytes.HasPrefix(b, ackHead):
		id, rest, ok := ackID(b[2:])
		if !ok || id != c.ackID.Load() || !bytes.Equal(rest, c.ackBody) {
			c.r.fail(true, "unexpected ack %.80q", b)
			signal(c.done, false)
			return
		}
		signal(c.done, true)
	case bytes.HasPrefix(b, backHead):
		id, rest, ok := ackID(b[4:])
		if !ok || id != c.ackID.Load() || len(rest) == 0 || rest[0] != '[' {
			c.r.fail(true, "unexpected binary ack %.80q", b)
			signal(c.done, false)
			return
		}
		c.wantBinary.Store(int64(c.r.cfg.Attachment))
	case b[0] == '2' && len(b) == 1:
		c.r.pings.Add(1)
		_ = conn.WriteString("3")
	case b[0] == '0':
		signal(c.open, struct{}{})
	case bytes.HasPrefix(b, []byte("40")):
		signal(c.ready, struct{}{})
	case b[0] == '6' || b[0] == '3':
		// noop, pong
	default:
		c.r.fail(true, "unexpected packet %.80q", b)
	}
}

// ackID splits "<digits>rest".
func ackID(b []byte) (uint64, []byte, bool) {
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, nil, false
	}
	id, err := strconv.ParseUint(string(b[:i]), 10, 64)
	return id, b[i:], err == nil
}

// echoPayload returns a JSON string of n bytes of text.
func echoPayload(n int) []byte {
	b := make([]byte, 0, n+2)
	b = append(b, '"')
	for i := range n {
		b = append(b, 'a'+byte(i%26))
	}
	return append(b, '"')
}

// echo runs the closed-loop echo (or binary echo) scenario.
func (r *runner) echo(binary bool) error {
	payload := echoPayload(r.cfg.Payload)
	body := append(append([]byte{'['}, payload...), ']')
	clients, err := r.connectAll(r.cfg.Clients, func(_ int, c *wsClient) {
		c.ackBody = body
		c.binary = binary
	})
	if err != nil {
		return err
	}
	defer closeAll(clients)
	attachment := make([]byte, r.cfg.Attachment)
	for i := range attachment {
		attachment[i] = byte(i)
	}
	var ops atomic.Int64
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.loop(&ops, payload, attachment)
		}()
	}
	a, b := r.measure(ops.Load)
	wg.Wait()
	r.finish(a, b)
	if r.res.Ops == 0 {
		return errors.New("bench: no operation completed")
	}
	return nil
}

// loop sends events with acks one at a time until the run stops.
func (c *wsClient) loop(ops *atomic.Int64, payload, attachment []byte) {
	r := c.r
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var id uint64
	for !r.stopping.Load() && r.ctx.Err() == nil {
		id++
		c.ackID.Store(id)
		c.buf = c.buf[:0]
		if c.binary {
			c.buf = append(c.buf, "451-"...)
			c.buf = strconv.AppendUint(c.buf, id, 10)
			c.buf = append(c.buf, `["binary",{"_placeholder":true,"num":0}]`...)
		} else {
			c.buf = append(c.buf, "42"...)
			c.buf = strconv.AppendUint(c.buf, id, 10)
			c.buf = append(c.buf, `["echo",`...)
			c.buf = append(c.buf, payload...)
			c.buf = append(c.buf, ']')
		}
		start := time.Now()
		err := c.conn.WriteMessage(gws.OpcodeText, c.buf)
		if err == nil && c.binary {
			err = c.conn.WriteMessage(gws.OpcodeBinary, attachment)
		}
		if err != nil {
			if !r.stopping.Load() {
				r.fail(false, "write: %v", err)
			}
			return
		}
		timer.Reset(r.cfg.Timeout)
		select {
		case ok := <-c.done:
			if !ok {
				return
			}
			if r.measuring.Load() {
				r.hist.record(time.Since(start))
				ops.Add(1)
			}
		case <-timer.C:
			r.fail(false, "no ack within %v", r.cfg.Timeout)
			return
		case <-r.ctx.Done():
			return
		}
	}
}

// broadcast runs the broadcast and cross-node scenarios: client 0 asks
// its server to broadcast "tick" to everyone, keeping at most
// cfg.InFlight broadcasts in flight; every client counts deliveries and
// their latency.
func (r *runner) broadcast() error {
	n := r.cfg.Clients
	base := time.Now()
	var delivered atomic.Int64
	progress := make(chan struct{}, 1)
	clients, err := r.connectAll(n, func(_ int, c *wsClient) {
		c.onTick = func(b []byte) {
			// 42["tick",<seq>,<ns since base>], and with connection
			// state recovery a last argument: the offset, a string.
			j := bytes.LastIndexByte(b, ']')
			if j > 0 && b[j-1] == '"' {
				j = bytes.LastIndexByte(b[:j], ',')
			}
			i := -1
			if j > 0 {
				i = bytes.LastIndexByte(b[:j], ',')
			}
			if i < 0 || j < i {
				r.fail(true, "bad tick %.80q", b)
				return
			}
			sent, err := strconv.ParseInt(string(b[i+1:j]), 10, 64)
			if err != nil {
				r.fail(true, "bad tick %.80q", b)
				return
			}
			if r.measuring.Load() {
				r.hist.record(time.Since(base) - time.Duration(sent))
			}
			if delivered.Add(1)%int64(n) == 0 {
				signal(progress, struct{}{})
			}
		}
	})
	if err != nil {
		return err
	}
	defer closeAll(clients)
	sender := clients[0]
	var issued atomic.Int64
	senderDone := make(chan struct{})
	go func() {
		defer close(senderDone)
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		var buf []byte
		window := int64(r.cfg.InFlight)
		for seq := int64(0); !r.stopping.Load() && r.ctx.Err() == nil; seq++ {
			need := (seq - window + 1) * int64(n)
			for delivered.Load() < need {
				timer.Reset(r.cfg.Timeout)
				select {
				case <-progress:
				case <-timer.C:
					r.fail(false, "deliveries stalled at %d of %d", delivered.Load(), need)
					return
				case <-r.ctx.Done():
					return
				}
				if r.stopping.Load() {
					return
				}
			}
			buf = append(buf[:0], `42["broadcast",`...)
			buf = strconv.AppendInt(buf, seq, 10)
			buf = append(buf, ',')
			buf = strconv.AppendInt(buf, int64(time.Since(base)), 10)
			buf = append(buf, ']')
			if err := sender.conn.WriteMessage(gws.OpcodeText, buf); err != nil {
				r.fail(false, "write: %v", err)
				return
			}
			issued.Add(1)
		}
	}()
	a, _ := r.measure(issued.Load)
	<-senderDone
	// Drain: wait for the broadcasts in flight to arrive everywhere.
	deadline := time.Now().Add(r.cfg.Timeout)
	for delivered.Load() < issued.Load()*int64(n) && time.Now().Before(deadline) && r.ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	if lost := issued.Load()*int64(n) - delivered.Load(); lost > 0 {
		r.fail(false, "%d deliveries missing after the drain", lost)
	}
	b := r.mark(issued.Load())
	r.finish(a, b)
	// Deliveries counted from the start of the measurement: the ones of
	// broadcasts issued before it are at most InFlight*n, a small edge.
	r.res.Deliveries = delivered.Load() - a.ops*int64(n)
	if r.res.Seconds > 0 {
		r.res.DeliveriesSec = float64(r.res.Deliveries) / r.res.Seconds
	}
	if r.res.Deliveries > 0 {
		r.res.ServerCPUPerDelivery = r.res.ServerCPU * 1e6 / float64(r.res.Deliveries)
	}
	if r.res.Ops == 0 {
		return errors.New("bench: no broadcast completed")
	}
	return nil
}

// connect opens cfg.Clients connections, measuring the rate and the
// server's CPU, then holds them idle and reads the server's memory.
func (r *runner) connect() error {
	n := r.cfg.Clients
	if int64(n) > r.cfg.N {
		n = int(r.cfg.N)
	}
	r.res.Clients = n
	a := r.mark(0)
	clients, err := r.connectAll(n, nil)
	b := r.mark(int64(len(clients)))
	if err != nil {
		return err
	}
	defer closeAll(clients)
	r.stopping.Store(false)
	r.finish(a, b)
	r.sleep(r.cfg.Hold)
	held, perr := readProcs(r.cfg.PIDs)
	if perr == nil && len(r.cfg.PIDs) > 0 && n > 0 {
		r.res.RSSPerConn = float64(held.RSS-a.server.RSS) / float64(n)
	}
	r.stopping.Store(true)
	return nil
}
