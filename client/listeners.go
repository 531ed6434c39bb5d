package client

// AnyHandler observes an incoming event (see Namespace.OnAny). It cannot
// answer an acknowledgement: the event's own handler does.
type AnyHandler func(e *Event)

// OutgoingEvent is an event on its way to the server, as given to an
// OutgoingHandler.
type OutgoingEvent struct {
	// Namespace the event is sent on.
	Namespace string
	// Name of the event.
	Name string
	// Args are the arguments as given to the emit, not copied: a value
	// changed after the emit may be seen changed here.
	Args []any
	// AckRequested reports whether the packet asks the server for an
	// acknowledgement (EmitWithAck, EmitWithCallback, Retries).
	AckRequested bool
}

// OutgoingHandler observes an event sent to the server (see
// Namespace.OnAnyOutgoing).
type OutgoingHandler func(e *OutgoingEvent)

// listener wraps a catch-all function so that it has an identity its
// remover can find it by.
type listener[F any] struct{ fn F }

// listeners is a copy-on-write list: its slices are never modified in
// place, so a snapshot taken under Client.hmu stays valid after.
type listeners[F any] []*listener[F]

// with returns the list with fn added at the end, or at the front when
// prepend is set, and the added entry.
func (ls listeners[F]) with(fn F, prepend bool) (listeners[F], *listener[F]) {
	l := &listener[F]{fn: fn}
	out := make(listeners[F], 0, len(ls)+1)
	if prepend {
		out = append(out, l)
		return append(out, ls...), l
	}
	out = append(out, ls...)
	return append(out, l), l
}

// without returns the list without l.
func (ls listeners[F]) without(l *listener[F]) listeners[F] {
	out := make(listeners[F], 0, len(ls))
	for _, x := range ls {
		if x != l {
			out = append(out, x)
		}
	}
	return out
}

// anyIn and anyOut select a namespace's incoming and outgoing catch-all
// listeners, for the generic helpers below.
func anyIn(h *nsHandlers) *listeners[AnyHandler]       { return &h.anyIn }
func anyOut(h *nsHandlers) *listeners[OutgoingHandler] { return &h.anyOut }

// addListener registers fn in the list sel picks on namespace ns and
// returns its remover. A nil fn is not registered.
func addListener[F any](c *Client, ns string, sel func(*nsHandlers) *listeners[F], fn F, isNil, prepend bool) func() {
	if isNil {
		return func() {}
	}
	c.hmu.Lock()
	defer c.hmu.Unlock()
	list := sel(c.handlersOf(ns))
	var l *listener[F]
	*list, l = list.with(fn, prepend)
	return func() {
		c.hmu.Lock()
		defer c.hmu.Unlock()
		*list = list.without(l)
	}
}

// clearListeners empties the list sel picks on namespace ns.
func clearListeners[F any](c *Client, ns string, sel func(*nsHandlers) *listeners[F]) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	if h := c.handlers[ns]; h != nil {
		*sel(h) = nil
	}
}

// snapshotListeners returns the functions of the list sel picks on
// namespace ns, then on the catch-all namespace.
func snapshotListeners[F any](c *Client, ns string, sel func(*nsHandlers) *listeners[F]) []F {
	c.hmu.RLock()
	defer c.hmu.RUnlock()
	var fns []F
	for _, k := range []string{ns, CatchAllNamespace} {
		if h := c.handlers[k]; h != nil {
			for _, l := range *sel(h) {
				fns = append(fns, l.fn)
			}
		}
	}
	return fns
}

// OnAny registers fn to observe every event that arrives on this
// namespace, with or without a handler of its own (socket.io-client's
// onAny; compare the CatchAll event, which only gets the events without a
// handler). Listeners run on the handler goroutine in registration order,
// before the event's handler. On the catch-all namespace they observe
// the events of every namespace, after the namespace's own listeners.
// connect, connect_error and disconnect are not events here. Calling the
// returned function removes fn; OffAny removes every listener.
func (n *Namespace) OnAny(fn AnyHandler) (remove func()) {
	return addListener(n.c, n.ns, anyIn, fn, fn == nil, false)
}

// PrependAny is OnAny, but fn runs before the listeners already
// registered (socket.io-client's prependAny).
func (n *Namespace) PrependAny(fn AnyHandler) (remove func()) {
	return addListener(n.c, n.ns, anyIn, fn, fn == nil, true)
}

// OffAny removes every listener registered with OnAny and PrependAny on
// this namespace (socket.io-client's offAny without an argument; remove
// one listener with the function OnAny returned).
func (n *Namespace) OffAny() { clearListeners(n.c, n.ns, anyIn) }

// OnAnyOutgoing registers fn to observe every event sent to the server
// on this namespace (socket.io-client's onAnyOutgoing): Emit, Send,
// EmitWithAck, EmitWithCallback and the Emitter's, when the packet is
// handed to the connection, so a buffered event when its namespace is
// connected again, an event sent with Retries at each try, and a dropped
// Volatile or discarded buffered event never. Listeners run on the
// handler goroutine in registration order, queued before the packet
// leaves, so before the handling of any answer to it. On the catch-all
// namespace they observe every namespace's events. Calling the returned
// function removes fn; OffAnyOutgoing removes every listener.
func (n *Namespace) OnAnyOutgoing(fn OutgoingHandler) (remove func()) {
	return addListener(n.c, n.ns, anyOut, fn, fn == nil, false)
}

// PrependAnyOutgoing is OnAnyOutgoing, but fn runs before the listeners
// already registered (socket.io-client's prependAnyOutgoing).
func (n *Namespace) PrependAnyOutgoing(fn OutgoingHandler) (remove func()) {
	return addListener(n.c, n.ns, anyOut, fn, fn == nil, true)
}

// OffAnyOutgoing removes every listener registered with OnAnyOutgoing and
// PrependAnyOutgoing on this namespace.
func (n *Namespace) OffAnyOutgoing() { clearListeners(n.c, n.ns, anyOut) }

// OnAny registers a listener of every incoming event of the main
// namespace (see Namespace.OnAny).
func (c *Client) OnAny(fn AnyHandler) (remove func()) { return c.Of("/").OnAny(fn) }

// PrependAny registers a listener of every incoming event of the main
// namespace, before the others (see Namespace.PrependAny).
func (c *Client) PrependAny(fn AnyHandler) (remove func()) { return c.Of("/").PrependAny(fn) }

// OffAny removes the main namespace's incoming catch-all listeners.
func (c *Client) OffAny() { c.Of("/").OffAny() }

// OnAnyOutgoing registers a listener of every event sent on the main
// namespace (see Namespace.OnAnyOutgoing).
func (c *Client) OnAnyOutgoing(fn OutgoingHandler) (remove func()) {
	return c.Of("/").OnAnyOutgoing(fn)
}

// PrependAnyOutgoing registers a listener of every event sent on the main
// namespace, before the others (see Namespace.PrependAnyOutgoing).
func (c *Client) PrependAnyOutgoing(fn OutgoingHandler) (remove func()) {
	return c.Of("/").PrependAnyOutgoing(fn)
}

// OffAnyOutgoing removes the main namespace's outgoing catch-all
// listeners.
func (c *Client) OffAnyOutgoing() { c.Of("/").OffAnyOutgoing() }

// notifyOutgoing queues the outgoing catch-all listeners of ns (the
// namespace's, then the catch-all namespace's) for an event about to be
// sent.
func (c *Client) notifyOutgoing(ns, event string, args []any, ack bool) {
	fns := snapshotListeners(c, ns, anyOut)
	if len(fns) == 0 {
		return
	}
	e := &OutgoingEvent{Namespace: ns, Name: event, Args: args, AckRequested: ack}
	c.queue.run(func() {
		for _, fn := range fns {
			c.safeCall(func() []any { fn(e); return nil })
		}
	})
}
