package client

import "slices"

// ReconnectAttemptHandler is implemented by class-style namespaces (see
// Register) that want to know when the client makes a reconnection
// attempt (see Client.OnReconnectAttempt).
type ReconnectAttemptHandler interface{ OnReconnectAttempt(attempt int) }

// ReconnectHandler is implemented by class-style namespaces that want to
// know when a reconnection succeeded (see Client.OnReconnect).
type ReconnectHandler interface{ OnReconnect(attempts int) }

// ReconnectErrorHandler is implemented by class-style namespaces that
// want to know when a reconnection attempt failed (see
// Client.OnReconnectError).
type ReconnectErrorHandler interface{ OnReconnectError(err error) }

// ReconnectFailedHandler is implemented by class-style namespaces that
// want to know when the client gave up reconnecting (see
// Client.OnReconnectFailed).
type ReconnectFailedHandler interface{ OnReconnectFailed() }

// reconnectFuncs are the handlers of the reconnection events, the
// Client's or a class-style value's.
type reconnectFuncs struct {
	attempt   func(attempt int)
	reconnect func(attempts int)
	err       func(err error)
	failed    func()
}

// fromClass fills r from the lifecycle methods h implements.
func (r *reconnectFuncs) fromClass(h any) {
	r.attempt = lifecycle(h, func(v ReconnectAttemptHandler) func(int) { return v.OnReconnectAttempt })
	r.reconnect = lifecycle(h, func(v ReconnectHandler) func(int) { return v.OnReconnect })
	r.err = lifecycle(h, func(v ReconnectErrorHandler) func(error) { return v.OnReconnectError })
	r.failed = lifecycle(h, func(v ReconnectFailedHandler) func() { return v.OnReconnectFailed })
}

// isReconnectMethod reports whether method m of h is one of the
// reconnection lifecycle methods h implements, not an event handler.
func isReconnectMethod(h any, m string) bool {
	var ok bool
	switch m {
	case "OnReconnectAttempt":
		_, ok = h.(ReconnectAttemptHandler)
	case "OnReconnect":
		_, ok = h.(ReconnectHandler)
	case "OnReconnectError":
		_, ok = h.(ReconnectErrorHandler)
	case "OnReconnectFailed":
		_, ok = h.(ReconnectFailedHandler)
	}
	return ok
}

// reconnectEvent names one of the reconnection events.
type reconnectEvent int

const (
	evReconnectAttempt reconnectEvent = iota // socket.io-client's reconnect_attempt
	evReconnect                              // reconnect
	evReconnectError                         // reconnect_error
	evReconnectFailed                        // reconnect_failed
)

// bind returns the call of r's handler of ev, or nil when it has none.
func (r *reconnectFuncs) bind(ev reconnectEvent, n int, err error) func() {
	switch ev {
	case evReconnectAttempt:
		if f := r.attempt; f != nil {
			return func() { f(n) }
		}
	case evReconnect:
		if f := r.reconnect; f != nil {
			return func() { f(n) }
		}
	case evReconnectError:
		if f := r.err; f != nil {
			return func() { f(err) }
		}
	case evReconnectFailed:
		if f := r.failed; f != nil {
			return f
		}
	}
	return nil
}

// OnReconnectAttempt registers the function called before each
// reconnection attempt, with its number counted from 1
// (socket.io-client's Manager event reconnect_attempt), replacing any
// previous one. The reconnection events belong to the client, not to a
// namespace: they follow the loss of the connection (or, with
// Options.Retry, the failure of the first one) until the client is
// connected again, gives up, or is shut down (then no further event
// comes). Their handlers run on the handler goroutine, the one registered
// on the Client first, then those of the class-style values registered
// with Register (in namespace order) that implement
// ReconnectAttemptHandler, ReconnectHandler, ReconnectErrorHandler or
// ReconnectFailedHandler. The attempt goes on without waiting for them.
func (c *Client) OnReconnectAttempt(fn func(attempt int)) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.reconnectFns.attempt = fn
}

// OnReconnect registers the function called when a reconnection attempt
// succeeded (every namespace connected again, after their connect
// handlers; for the first connection retried with Options.Retry and
// DisableWait, once the Engine.IO connection is open), with the number
// of attempts it took (socket.io-client's reconnect), replacing any
// previous one.
func (c *Client) OnReconnect(fn func(attempts int)) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.reconnectFns.reconnect = fn
}

// OnReconnectError registers the function called when a reconnection
// attempt failed, with the reason (socket.io-client's reconnect_error),
// replacing any previous one. The next attempt, or OnReconnectFailed's
// function, follows.
func (c *Client) OnReconnectError(fn func(err error)) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.reconnectFns.err = fn
}

// OnReconnectFailed registers the function called when the client gives
// up after Options.ReconnectionAttempts failed attempts
// (socket.io-client's reconnect_failed), replacing any previous one. It
// runs before Wait returns. It is not called when a refused namespace
// ends Connect's retries (Options.Retry), nor on Shutdown.
func (c *Client) OnReconnectFailed(fn func()) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.reconnectFns.failed = fn
}

// fireReconnect queues the handlers of a reconnection event.
func (c *Client) fireReconnect(ev reconnectEvent, n int, err error) {
	c.hmu.RLock()
	var fns []func()
	if f := c.reconnectFns.bind(ev, n, err); f != nil {
		fns = append(fns, f)
	}
	nss := make([]string, 0, len(c.handlers))
	for ns, h := range c.handlers {
		if h.class != nil {
			nss = append(nss, ns)
		}
	}
	slices.Sort(nss)
	for _, ns := range nss {
		if f := c.handlers[ns].class.reconnect.bind(ev, n, err); f != nil {
			fns = append(fns, f)
		}
	}
	c.hmu.RUnlock()
	for _, f := range fns {
		c.runHandler(f)
	}
}
