package client

import (
	"encoding/json"
	"errors"
	"slices"

	"github.com/siogate/siogate/protocol/engineio"
	"github.com/siogate/siogate/protocol/socketio"
)

// conn is one Engine.IO connection of a session with its namespaces. The
// fields below eng are guarded by Client.mu.
type conn struct {
	c    *Client
	sess *session
	eng  *engineConn
	dec  socketio.PacketDecoder // used only by onMessage, which is serialized

	nss         map[string]*nsState
	pending     int           // namespaces without an answer yet
	ready       chan struct{} // closed when pending reaches 0 or the conn closes
	readyClosed bool
	err         error // the first refusal, or why the conn closed early
	established bool  // every namespace connected: losses now reconnect
	closing     bool  // Disconnect called
	closed      bool
}

type nsState struct {
	sid       string
	connected bool
	presented string      // the recovery pid its CONNECT carried, if any
	recovered bool        // the CONNECT answer carried that pid back
	held      []heldEvent // events that came before the CONNECT answer
}

// markReady closes ready once. Client.mu must be held.
func (cn *conn) markReady() {
	if !cn.readyClosed {
		cn.readyClosed = true
		close(cn.ready)
	}
}

// sendPacket encodes a Socket.IO packet with its attachments and sends it.
func (cn *conn) sendPacket(p *socketio.Packet) error {
	pkts, err := cn.c.encodePacket(nil, p)
	if err != nil {
		return err
	}
	return cn.eng.send(pkts...)
}

// encodePacket appends the Engine.IO messages carrying p, encoded with the
// configured parser, to dst.
func (c *Client) encodePacket(dst []engineio.Packet, p *socketio.Packet) ([]engineio.Packet, error) {
	msgs, err := c.opts.Parser.Encode(p)
	if err != nil {
		return dst, err
	}
	for _, m := range msgs {
		dst = append(dst, engineio.Packet{Type: engineio.Message, Data: m.Data, Binary: m.Binary})
	}
	return dst, nil
}

// disconnect sends DISCONNECT for every connected namespace and closes
// the connection gracefully.
func (cn *conn) disconnect() {
	c := cn.c
	c.mu.Lock()
	cn.closing = true
	var pkts []engineio.Packet
	for ns, s := range cn.nss {
		if s.connected {
			p := socketio.Packet{Type: socketio.Disconnect, Namespace: ns}
			pkts, _ = c.encodePacket(pkts, &p)
		}
	}
	c.mu.Unlock()
	if len(pkts) > 0 {
		_ = cn.eng.send(pkts...)
	}
	cn.eng.close(ReasonClientDisconnect, nil, true)
}

// onMessage handles one Engine.IO message (called one at a time).
func (cn *conn) onMessage(data []byte, binary bool) {
	c := cn.c
	p, err := cn.dec.Add(data, binary)
	if err != nil {
		c.log.Error("invalid packet from the server", "err", err)
		cn.eng.close(ReasonParseError, err, false)
		return
	}
	if p == nil {
		return // waiting for attachments
	}
	switch p.Type {
	case socketio.Connect:
		var d struct {
			SID string `json:"sid"`
			PID string `json:"pid"`
		}
		if p.Data != nil {
			_ = json.Unmarshal(p.Data, &d)
		}
		c.mu.Lock()
		s := cn.nss[p.Namespace]
		if s == nil || s.connected || cn.closed {
			c.mu.Unlock()
			return
		}
		s.sid, s.connected = d.SID, true
		recovered := cn.sess.connectedLocked(p.Namespace, s.presented, d.PID)
		s.recovered = recovered
		// The events the server sent before its answer (the missed ones,
		// when it recovered the session) go first, in order, then the
		// connect handler, as in socket.io-client.
		held := s.held
		s.held = nil
		for _, h := range held {
			cn.sess.takeOffsetLocked(h.e)
			c.queue.run(func() { c.dispatch(cn, h.e, h.id) })
		}
		// Queued before ready is closed: the handlers of Connect's caller
		// and of the reconnect event come after the connect handlers.
		if h := c.connectHandler(p.Namespace); h != nil {
			c.runHandler(h)
		}
		cn.pending--
		if cn.pending == 0 {
			cn.markReady()
		}
		if o := c.out[p.Namespace]; o != nil && len(o.buf) > 0 {
			o.flushing = true // emits made from now on queue behind the buffer
		}
		c.mu.Unlock()
		c.log.Debug("namespace connected", "namespace", p.Namespace, "sid", d.SID, "recovered", recovered, "replayed", len(held))
		c.flush(cn, p.Namespace)

	case socketio.ConnectError:
		ce := parseConnectError(p.Namespace, p.Data)
		c.mu.Lock()
		s := cn.nss[p.Namespace]
		if s == nil || s.connected {
			c.mu.Unlock()
			return
		}
		delete(cn.nss, p.Namespace)
		if cn.err == nil {
			cn.err = ce
		}
		cn.pending--
		if cn.pending == 0 {
			cn.markReady()
		}
		// On an established connection (Options.DisableWait) nobody
		// waits for the refusal: drop the namespace, and the session when
		// none is left.
		empty := false
		if cn.established && !cn.closed {
			cn.dropNamespaceLocked(p.Namespace, ErrNotConnected)
			empty = len(cn.nss) == 0
		}
		c.mu.Unlock()
		c.log.Debug("namespace refused", "namespace", p.Namespace, "message", ce.Message)
		if h := c.connectErrorHandler(p.Namespace); h != nil {
			c.runHandler(func() { h(ce) })
		}
		if empty {
			go cn.disconnect()
		}

	case socketio.Disconnect:
		c.mu.Lock()
		s := cn.nss[p.Namespace]
		if s == nil || !s.connected {
			c.mu.Unlock()
			return
		}
		delete(cn.nss, p.Namespace)
		left := 0
		for _, s := range cn.nss {
			if s.connected {
				left++
			}
		}
		cn.failAcks(p.Namespace)
		cn.dropNamespaceLocked(p.Namespace, ErrDisconnected) // not reconnected
		// Queued under mu: a concurrent Shutdown ends the session after it.
		cn.runDisconnect(p.Namespace, ReasonServerDisconnect)
		c.mu.Unlock()
		c.log.Debug("namespace disconnected by the server", "namespace", p.Namespace)
		if left == 0 {
			cn.eng.close(ReasonServerDisconnect, nil, true)
		}

	case socketio.Event, socketio.BinaryEvent:
		name, args, err := socketio.EventName(p)
		args = args.WithJSON(c.opts.JSON)
		if err != nil {
			c.log.Error("invalid event from the server", "err", err)
			return
		}
		e := &Event{Namespace: p.Namespace, Name: name, Args: args, AckRequested: p.HasID}
		id := p.ID
		c.mu.Lock()
		s := cn.nss[p.Namespace]
		switch {
		case s == nil || cn.closed:
			c.mu.Unlock()
			return
		case !s.connected:
			// Before the CONNECT answer: a recovering server replays the
			// missed events first. Dispatched once it answers; dropped
			// with the connection if it never does.
			s.held = append(s.held, heldEvent{e: e, id: id})
			c.mu.Unlock()
			return
		}
		// The offset is taken on arrival, not once handled: a reconnection
		// while events wait for the handler goroutine must not have them
		// replayed.
		cn.sess.takeOffsetLocked(e)
		c.mu.Unlock()
		c.queue.run(func() { c.dispatch(cn, e, id) })

	case socketio.Ack, socketio.BinaryAck:
		args, err := socketio.ParseArgs(p.Data, p.Attachments)
		args = args.WithJSON(c.opts.JSON)
		if err != nil {
			c.log.Error("invalid acknowledgement from the server", "err", err)
			return
		}
		c.mu.Lock()
		a := c.acks[p.ID]
		if a == nil || a.ns != p.Namespace || a.conn != cn || a.settled {
			c.mu.Unlock()
			return
		}
		it := a.retryOf
		if it == nil {
			c.settleLocked(a, ackResult{args: args})
			c.mu.Unlock()
			return
		}
		c.forgetLocked(a)
		it.try = nil
		c.popRetryLocked(it)
		if it.ack != nil {
			c.settleLocked(it.ack, ackResult{args: args})
		}
		c.mu.Unlock()
		c.kick(it.ns)
	}
}

// dropNamespaceLocked removes ns from the session for good, discarding its
// buffered emits. Client.mu must be held.
func (cn *conn) dropNamespaceLocked(ns string, err error) {
	s := cn.sess
	s.ns = slices.DeleteFunc(s.ns, func(n string) bool { return n == ns })
	delete(s.rec, ns)
	if cn.c.sess == s {
		cn.c.discardLocked(ns, err)
	}
}

func (a *pendingAck) resolve(c *Client, r ackResult) {
	if a.ch != nil {
		a.ch <- r // buffered, resolved once
		return
	}
	c.runHandler(func() { a.fn(r.args, r.err) })
}

// failAcks fails the pending acknowledgements of namespace ns ("" for
// all) on this conn with ErrDisconnected, at once: EmitWithAck and
// EmitWithCallback do not wait for a reconnection. The tries of Retries
// emits are not failed but sent again once the namespace is connected.
// Client.mu must be held.
func (cn *conn) failAcks(ns string) {
	c := cn.c
	for _, a := range c.acks {
		if a.conn != cn || (ns != "" && a.ns != ns) {
			continue
		}
		if it := a.retryOf; it != nil {
			c.forgetLocked(a)
			it.try = nil
			continue
		}
		c.settleLocked(a, ackResult{err: ErrDisconnected})
	}
}

// runDisconnect queues ns's disconnect handler. It may be called with
// Client.mu held.
func (cn *conn) runDisconnect(ns string, reason DisconnectReason) {
	c := cn.c
	if h := c.disconnectHandler(ns); h != nil {
		c.runHandler(func() { h(reason) })
	}
}

// connectHandler returns ns's connect handler: the function registered
// with OnConnect, else a class-style one.
func (c *Client) connectHandler(ns string) func() {
	c.hmu.RLock()
	defer c.hmu.RUnlock()
	if h := c.handlers[ns]; h != nil {
		if h.connect != nil {
			return h.connect
		}
		if h.class != nil {
			return h.class.connect
		}
	}
	return nil
}

// connectErrorHandler returns ns's connect error handler.
func (c *Client) connectErrorHandler(ns string) func(*ConnectError) {
	c.hmu.RLock()
	defer c.hmu.RUnlock()
	if h := c.handlers[ns]; h != nil {
		if h.connectError != nil {
			return h.connectError
		}
		if h.class != nil {
			return h.class.connectError
		}
	}
	return nil
}

// disconnectHandler returns ns's disconnect handler.
func (c *Client) disconnectHandler(ns string) func(DisconnectReason) {
	c.hmu.RLock()
	defer c.hmu.RUnlock()
	if h := c.handlers[ns]; h != nil {
		if h.disconnect != nil {
			return h.disconnect
		}
		if h.class != nil {
			return h.class.disconnect
		}
	}
	return nil
}

// onClose handles the end of the Engine.IO connection.
func (cn *conn) onClose(reason DisconnectReason, cause error) {
	c := cn.c
	c.mu.Lock()
	if cn.closed {
		c.mu.Unlock()
		return
	}
	cn.closed = true
	if cn.closing {
		reason = ReasonClientDisconnect
	}
	var lost []string
	for ns, s := range cn.nss {
		if s.connected {
			lost = append(lost, ns)
			s.connected = false
		}
	}
	cn.failAcks("")
	if cn.err == nil {
		cn.err = errors.New("client: connection closed: " + string(reason))
	}
	cn.markReady()
	if c.cur == cn {
		c.cur = nil
	}
	established := cn.established
	// Queue the disconnect handlers before a Shutdown that no longer sees
	// this conn can end the session, so that Wait covers them.
	for _, ns := range lost {
		cn.runDisconnect(ns, reason)
	}
	c.mu.Unlock()
	if c.opts.HTTPClient == nil {
		cn.eng.cfg.httpClient.CloseIdleConnections()
	}

	if established {
		c.log.Info("disconnected", "reason", string(reason), "cause", cause)
	}
	s := cn.sess
	if !established {
		if cn.closing {
			// Disconnect called while Connect or a reconnection attempt
			// was still waiting on this conn (from a connect handler, say):
			// the session ends, the attempt fails and is not retried.
			c.endSession(s)
		}
		return // Connect or the reconnection loop deals with it
	}
	if reason == ReasonClientDisconnect || reason == ReasonServerDisconnect ||
		c.opts.DisableReconnection || s.ctx.Err() != nil {
		c.endSession(s)
		return
	}
	go c.reconnect(s)
}
