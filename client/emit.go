package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/siogate/siogate/protocol/socketio"
)

// errCatchAllEmit reports an emit on the catch-all namespace.
var errCatchAllEmit = errors.New("client: cannot emit on the catch-all namespace")

// emitFlags modify one emit.
type emitFlags struct {
	volatile bool          // dropped when the namespace is not connected
	timeout  time.Duration // acknowledgement timeout (per try with retries)
	retries  int           // resend until acknowledged, up to retries times
	noBuffer bool          // fail with ErrNotConnected instead of buffering
}

// nsOut holds a namespace's emits that wait for it to be connected, and
// its queue of Retries emits. Guarded by Client.mu.
type nsOut struct {
	buf      []*outgoing
	flushing bool // buf is being sent: new emits append to it
	rq       []*retryItem
}

type outgoing struct {
	pkt   socketio.Packet // without an ack id
	event string
	args  []any       // as given, for the outgoing catch-all listeners
	ack   *pendingAck // nil when none is asked for
}

// retryItem is one Retries emit; only the head of nsOut.rq is in flight.
type retryItem struct {
	ns      string
	event   string
	args    []any // as given, for the outgoing catch-all listeners
	pkt     socketio.Packet
	left    int           // resends left
	timeout time.Duration // per try
	ack     *pendingAck   // the caller's, nil for a plain Emit
	try     *pendingAck   // the try in flight, if any
}

// Emitter emits with modifiers, like socket.io-client's
// socket.volatile, socket.timeout(ms) and the retries option. Get one
// with Namespace.Volatile, Namespace.Timeout or Namespace.Retries (or the
// Client's, for "/"); each modifier returns a new Emitter, so they may be
// chained and kept.
type Emitter struct {
	n     *Namespace
	flags emitFlags
}

// Volatile returns an Emitter whose events are dropped, without error,
// when the namespace is not connected instead of being buffered.
func (n *Namespace) Volatile() *Emitter { return (&Emitter{n: n}).Volatile() }

// Timeout returns an Emitter whose acknowledgements time out after d: the
// callback of EmitWithCallback then gets a *TimeoutError, and
// EmitWithAck returns one. The time counts from
// the emit, buffering included. With Retries, d bounds each try instead.
func (n *Namespace) Timeout(d time.Duration) *Emitter { return (&Emitter{n: n}).Timeout(d) }

// Retries returns an Emitter whose events are acknowledged and resent,
// up to r more times, until the server acknowledges them. Such events
// form a queue per namespace, sent one at a time in order: the next one
// leaves once the previous one was acknowledged or ran out of tries (its
// callback then gets a *TimeoutError, or EmitWithAck returns one). A try
// cut by a lost connection is resent after reconnection without
// counting. Each try waits for the Timeout given, else
// Options.AckTimeout. The server must acknowledge these events, even
// those sent with Emit. Volatile events are not retried.
func (n *Namespace) Retries(r int) *Emitter { return (&Emitter{n: n}).Retries(r) }

// Volatile returns a copy of e whose events are dropped when the
// namespace is not connected.
func (e *Emitter) Volatile() *Emitter {
	cp := *e
	cp.flags.volatile = true
	return &cp
}

// Timeout returns a copy of e whose acknowledgements time out after d
// (d <= 0: no timeout).
func (e *Emitter) Timeout(d time.Duration) *Emitter {
	cp := *e
	cp.flags.timeout = max(d, 0)
	return &cp
}

// Retries returns a copy of e that resends each event up to r times until
// acknowledged (r <= 0: no retries).
func (e *Emitter) Retries(r int) *Emitter {
	cp := *e
	cp.flags.retries = max(r, 0)
	return &cp
}

// Emit sends an event with e's modifiers.
func (e *Emitter) Emit(event string, args ...any) error {
	return e.n.c.emit(e.n.ns, event, args, nil, e.flags)
}

// Send emits the event "message" with e's modifiers.
func (e *Emitter) Send(args ...any) error { return e.Emit("message", args...) }

// EmitWithCallback sends an event with e's modifiers and asks for an
// acknowledgement; cb runs on the handler goroutine with its arguments,
// a *TimeoutError, or ErrDisconnected. The event is buffered while the
// namespace is not connected, unless e is Volatile.
func (e *Emitter) EmitWithCallback(cb AckCallback, event string, args ...any) error {
	return e.n.c.emitWithCallback(e.n.ns, cb, event, args, e.flags)
}

// EmitWithAck sends an event with e's modifiers and waits for its
// acknowledgement, at most until ctx is done or e's Timeout passes (both
// give a *TimeoutError). Like Namespace.EmitWithAck it is never
// buffered: when the namespace is not connected it fails at once with
// ErrNotConnected, Volatile or not. With Retries the event joins the
// namespace's retry queue and a try cut by a lost connection is resent
// after reconnection, within ctx; when ctx ends first the event stays in
// the queue until acknowledged or out of tries.
func (e *Emitter) EmitWithAck(ctx context.Context, event string, args ...any) (socketio.Args, error) {
	return e.n.c.emitWithAck(ctx, e.n.ns, event, args, e.flags)
}

// Volatile returns an Emitter of the main namespace whose events are
// dropped when it is not connected.
func (c *Client) Volatile() *Emitter { return c.Of("/").Volatile() }

// Timeout returns an Emitter of the main namespace whose
// acknowledgements time out after d.
func (c *Client) Timeout(d time.Duration) *Emitter { return c.Of("/").Timeout(d) }

// Retries returns an Emitter of the main namespace that resends events
// until acknowledged, up to r more times.
func (c *Client) Retries(r int) *Emitter { return c.Of("/").Retries(r) }

// nsConnected reports whether ns is connected on cn. Client.mu must be
// held.
func nsConnected(cn *conn, ns string) bool {
	if cn == nil {
		return false
	}
	s := cn.nss[ns]
	return s != nil && s.connected
}

// buffering reports whether an emit on ns may wait for the namespace to
// be (re)connected. Client.mu must be held.
func (c *Client) buffering(ns string) bool {
	return !c.opts.DisableBuffering && c.sess != nil && c.sess.ctx.Err() == nil && slices.Contains(c.sess.ns, ns)
}

func (c *Client) outOf(ns string) *nsOut {
	o := c.out[ns]
	if o == nil {
		o = &nsOut{}
		c.out[ns] = o
	}
	return o
}

// registerLocked gives ack an id on cn. Client.mu must be held.
func (c *Client) registerLocked(a *pendingAck, cn *conn, ns string) uint64 {
	c.nextAck++
	a.id, a.ns, a.conn, a.buffered = c.nextAck, ns, cn, false
	c.acks[a.id] = a
	return a.id
}

// emit sends an EVENT, buffers it, or queues it for retries.
func (c *Client) emit(ns, event string, args []any, ack *pendingAck, f emitFlags) error {
	if ns == CatchAllNamespace {
		return errCatchAllEmit
	}
	switch event {
	case "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener":
		return fmt.Errorf("client: %q is a reserved event name", event)
	}
	p, err := socketio.NewEventWith(c.opts.JSON, ns, event, args)
	if err != nil {
		return err
	}
	if f.retries > 0 && !f.volatile {
		return c.enqueueRetry(ns, event, args, p, ack, f)
	}
	if ack != nil {
		ack.ns = ns
	}
	c.mu.Lock()
	cn := c.cur
	connected := nsConnected(cn, ns)
	out := c.out[ns]
	if connected && (out == nil || !out.flushing) {
		if ack != nil {
			p.HasID, p.ID = true, c.registerLocked(ack, cn, ns)
			c.startTimerLocked(ack, f.timeout)
		}
		c.mu.Unlock()
		c.notifyOutgoing(ns, event, args, ack != nil)
		if err := cn.sendPacket(&p); err != nil {
			if ack != nil {
				c.abandon(ack)
			}
			return err
		}
		return nil
	}
	if !connected {
		if f.noBuffer { // checked first: a dropped volatile event would never be acknowledged
			c.mu.Unlock()
			return ErrNotConnected
		}
		if f.volatile {
			c.mu.Unlock()
			c.log.Debug("volatile event dropped", "namespace", ns, "event", event)
			return nil
		}
		if !c.buffering(ns) {
			c.mu.Unlock()
			return ErrNotConnected
		}
	}
	if ack != nil {
		ack.buffered = true
		c.startTimerLocked(ack, f.timeout)
	}
	out = c.outOf(ns)
	out.buf = append(out.buf, &outgoing{pkt: p, event: event, args: args, ack: ack})
	c.mu.Unlock()
	return nil
}

// startTimerLocked arms a's timeout. Client.mu must be held.
func (c *Client) startTimerLocked(a *pendingAck, d time.Duration) {
	if d <= 0 {
		return
	}
	a.timer = time.AfterFunc(d, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.settleLocked(a, ackResult{err: &TimeoutError{Op: a.op}})
	})
}

// settleLocked resolves a once, unregistering it. Client.mu must be held.
func (c *Client) settleLocked(a *pendingAck, r ackResult) {
	if a.settled {
		return
	}
	c.forgetLocked(a)
	a.resolve(c, r)
}

// forgetLocked marks a settled and removes it from wherever it waits,
// without resolving it. Client.mu must be held.
func (c *Client) forgetLocked(a *pendingAck) {
	a.settled = true
	if a.timer != nil {
		a.timer.Stop()
	}
	if a.id != 0 && c.acks[a.id] == a {
		delete(c.acks, a.id)
	}
	if a.buffered {
		if o := c.out[a.ns]; o != nil {
			o.buf = slices.DeleteFunc(o.buf, func(g *outgoing) bool { return g.ack == a })
		}
		a.buffered = false
	}
}

// abandon forgets an acknowledgement nobody waits for any more.
func (c *Client) abandon(a *pendingAck) {
	c.mu.Lock()
	if !a.settled {
		c.forgetLocked(a)
	}
	c.mu.Unlock()
}

// discardLocked drops the buffered and queued emits of ns, failing their
// acknowledgements with err. Client.mu must be held.
func (c *Client) discardLocked(ns string, err error) {
	o := c.out[ns]
	if o == nil {
		return
	}
	delete(c.out, ns)
	for _, g := range o.buf {
		if g.ack != nil {
			g.ack.buffered = false
			c.settleLocked(g.ack, ackResult{err: err})
		}
	}
	for _, it := range o.rq {
		if it.try != nil {
			c.forgetLocked(it.try)
			it.try = nil
		}
		if it.ack != nil {
			c.settleLocked(it.ack, ackResult{err: err})
		}
	}
	if n := len(o.buf) + len(o.rq); n > 0 {
		c.log.Debug("buffered events discarded", "namespace", ns, "count", n)
	}
}

// flush sends the emits buffered for ns, now connected on cn, in order;
// emits made meanwhile join the buffer until it is empty.
func (c *Client) flush(cn *conn, ns string) {
	for {
		c.mu.Lock()
		o := c.out[ns]
		if o == nil {
			c.mu.Unlock()
			break
		}
		if len(o.buf) == 0 || c.cur != cn || !nsConnected(cn, ns) {
			o.flushing = false
			c.mu.Unlock()
			break
		}
		o.flushing = true
		batch := o.buf
		o.buf = nil
		pkts := make([]socketio.Packet, 0, len(batch))
		sent := make([]*outgoing, 0, len(batch))
		for _, g := range batch {
			p := g.pkt
			if g.ack != nil {
				if g.ack.settled {
					continue
				}
				p.HasID, p.ID = true, c.registerLocked(g.ack, cn, ns)
			}
			pkts = append(pkts, p)
			sent = append(sent, g)
		}
		c.mu.Unlock()
		for i := range pkts {
			c.notifyOutgoing(ns, sent[i].event, sent[i].args, pkts[i].HasID)
			if err := cn.sendPacket(&pkts[i]); err != nil {
				c.log.Debug("buffered event not sent", "namespace", ns, "err", err)
			}
		}
	}
	c.kick(ns)
}

// enqueueRetry queues a Retries emit.
func (c *Client) enqueueRetry(ns, event string, args []any, p socketio.Packet, ack *pendingAck, f emitFlags) error {
	timeout := f.timeout
	if timeout <= 0 {
		timeout = c.opts.AckTimeout
	}
	it := &retryItem{ns: ns, event: event, args: args, pkt: p, left: f.retries, timeout: timeout, ack: ack}
	if ack != nil {
		ack.ns = ns
	}
	c.mu.Lock()
	if !nsConnected(c.cur, ns) && (f.noBuffer || !c.buffering(ns)) {
		c.mu.Unlock()
		return ErrNotConnected
	}
	o := c.outOf(ns)
	o.rq = append(o.rq, it)
	c.mu.Unlock()
	c.kick(ns)
	return nil
}

// kick sends the head of ns's retry queue when nothing is in flight and
// the namespace is connected.
func (c *Client) kick(ns string) {
	c.mu.Lock()
	o := c.out[ns]
	cn := c.cur
	if o == nil || len(o.rq) == 0 || o.rq[0].try != nil || o.flushing || !nsConnected(cn, ns) {
		c.mu.Unlock()
		return
	}
	it := o.rq[0]
	try := &pendingAck{op: "ack " + it.event, retryOf: it}
	it.try = try
	p := it.pkt
	p.HasID, p.ID = true, c.registerLocked(try, cn, ns)
	try.timer = time.AfterFunc(it.timeout, func() { c.tryTimedOut(try) })
	c.mu.Unlock()
	c.notifyOutgoing(ns, it.event, it.args, true)
	if err := cn.sendPacket(&p); err != nil {
		c.log.Debug("retried event not sent", "namespace", ns, "event", it.event, "err", err)
	}
}

// tryTimedOut resends the retry item of try, or gives up on it.
func (c *Client) tryTimedOut(try *pendingAck) {
	c.mu.Lock()
	if try.settled {
		c.mu.Unlock()
		return
	}
	c.forgetLocked(try)
	it := try.retryOf
	it.try = nil
	if it.left > 0 {
		it.left--
		c.log.Debug("resending unacknowledged event", "namespace", it.ns, "event", it.event, "left", it.left)
	} else {
		c.popRetryLocked(it)
		if it.ack != nil {
			c.settleLocked(it.ack, ackResult{err: &TimeoutError{Op: try.op}})
		} else {
			c.log.Debug("event never acknowledged", "namespace", it.ns, "event", it.event)
		}
	}
	c.mu.Unlock()
	c.kick(it.ns)
}

// popRetryLocked removes it from the head of its queue. Client.mu must be
// held.
func (c *Client) popRetryLocked(it *retryItem) {
	if o := c.out[it.ns]; o != nil && len(o.rq) > 0 && o.rq[0] == it {
		o.rq[0] = nil
		o.rq = o.rq[1:]
	}
}

// disconnectNamespace implements Namespace.Disconnect.
func (c *Client) disconnectNamespace(ns string) error {
	if ns == CatchAllNamespace {
		return ErrNotConnected
	}
	c.mu.Lock()
	s := c.sess
	if s == nil || !slices.Contains(s.ns, ns) {
		c.mu.Unlock()
		return ErrNotConnected
	}
	s.ns = slices.DeleteFunc(s.ns, func(n string) bool { return n == ns })
	delete(s.rec, ns)
	left := len(s.ns)
	c.discardLocked(ns, ErrDisconnected)
	cn := c.cur
	wasConnected := false
	if cn != nil {
		if st := cn.nss[ns]; st != nil {
			wasConnected = st.connected
			delete(cn.nss, ns)
			if !st.connected {
				cn.pending--
				if cn.pending == 0 {
					cn.markReady()
				}
			}
			cn.failAcks(ns)
		}
	}
	if wasConnected {
		cn.runDisconnect(ns, ReasonClientDisconnect) // under mu, as in onClose
	}
	c.mu.Unlock()
	if wasConnected {
		p := socketio.Packet{Type: socketio.Disconnect, Namespace: ns}
		if pkts, err := c.encodePacket(nil, &p); err == nil {
			_ = cn.eng.send(pkts...)
		}
	}
	if left == 0 {
		c.Shutdown()
	}
	return nil
}
