package client

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"unicode"

	"github.com/siogate/siogate/protocol/socketio"
)

// ConnectHandler is implemented by class-style namespaces (see Register)
// that want to know when their namespace is connected.
type ConnectHandler interface{ OnConnect() }

// ConnectErrorHandler is implemented by class-style namespaces that want
// to know when the server refuses their namespace.
type ConnectErrorHandler interface{ OnConnectError(*ConnectError) }

// DisconnectHandler is implemented by class-style namespaces that want to
// know when their namespace is disconnected.
type DisconnectHandler interface{ OnDisconnect(DisconnectReason) }

// EventMap is implemented by class-style namespaces that name their event
// handlers explicitly (the key CatchAll is the class's catch-all). It is
// called once, by Register, and takes precedence over methods.
type EventMap interface {
	Events() map[string]EventHandler
}

// classHandlers are the handlers found on a class-style namespace value.
type classHandlers struct {
	explicit     map[string]EventHandler // from EventMap, by exact event name
	methods      map[string]EventHandler // from On<Event> methods, by methodKey
	connect      func()
	connectError func(*ConnectError)
	disconnect   func(DisconnectReason)
	reconnect    reconnectFuncs
}

func (h *classHandlers) lookup(event string) EventHandler {
	if f := h.explicit[event]; f != nil {
		return f
	}
	if f := h.methods[methodKey(event)]; f != nil {
		return f
	}
	if isReserved(event) {
		return nil
	}
	return h.explicit[CatchAll]
}

// methodKey maps an event name to the part of a method name after "On":
// words separated by anything but letters and digits are capitalized and
// joined, so "my_event", "my-event", "my event" and "myEvent" all map to
// "MyEvent".
func methodKey(event string) string {
	var b strings.Builder
	up := true
	for _, r := range event {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

var (
	eventHandlerType = reflect.TypeFor[EventHandler]()
	eventFuncType    = reflect.TypeFor[func(*Event)]()
)

// Register attaches a class-style namespace: a value (usually a pointer to
// a struct) whose methods handle the events of namespace ns ("" means "/",
// CatchAllNamespace the catch-all namespace), found once, here:
//
//   - OnConnect(), OnConnectError(*ConnectError) and
//     OnDisconnect(DisconnectReason) (ConnectHandler, ConnectErrorHandler,
//     DisconnectHandler) handle the namespace's life cycle;
//   - OnReconnectAttempt(int), OnReconnect(int), OnReconnectError(error)
//     and OnReconnectFailed() (ReconnectAttemptHandler,
//     ReconnectHandler, ReconnectErrorHandler, ReconnectFailedHandler)
//     receive the client's reconnection events (see
//     Client.OnReconnectAttempt), whatever the namespace, the catch-all
//     one included;
//   - Events() map[string]EventHandler (EventMap) names event handlers
//     explicitly;
//   - any other exported method On<Name> with the signature
//     func(*Event) []any or func(*Event) handles the events whose name maps
//     to <Name>: "my_event", "my-event" and "myEvent" all go to
//     OnMyEvent.
//
// Handlers registered with On, OnConnect and the like take precedence over
// the class's (the Client's reconnection handlers run besides them).
// Embedding NamespaceBase gives the type Emit, Send, EmitWithAck,
// EmitWithCallback, Disconnect and SID defaulting to ns. A method named
// On... with another signature is an error. Registering on a namespace
// replaces its previous class-style value.
func (c *Client) Register(ns string, h any) error {
	if h == nil {
		return errors.New("client: Register with a nil value")
	}
	ns = normNamespace(ns)
	ch := &classHandlers{methods: map[string]EventHandler{}}
	ch.connect = lifecycle(h, func(v ConnectHandler) func() { return v.OnConnect })
	ch.connectError = lifecycle(h, func(v ConnectErrorHandler) func(*ConnectError) { return v.OnConnectError })
	ch.disconnect = lifecycle(h, func(v DisconnectHandler) func(DisconnectReason) { return v.OnDisconnect })
	ch.reconnect.fromClass(h)
	if v, ok := h.(EventMap); ok {
		ch.explicit = v.Events()
	}
	rv := reflect.ValueOf(h)
	rt := rv.Type()
	for i := range rt.NumMethod() {
		m := rt.Method(i)
		name, ok := strings.CutPrefix(m.Name, "On")
		if !ok || name == "" || !unicode.IsUpper([]rune(name)[0]) { // not Once
			continue
		}
		switch m.Name {
		case "OnConnect", "OnConnectError", "OnDisconnect":
			continue
		}
		if isReconnectMethod(h, m.Name) {
			continue
		}
		fn := rv.Method(i)
		switch {
		case fn.Type().ConvertibleTo(eventHandlerType):
			ch.methods[name] = fn.Convert(eventHandlerType).Interface().(EventHandler)
		case fn.Type().ConvertibleTo(eventFuncType):
			f := fn.Convert(eventFuncType).Interface().(func(*Event))
			ch.methods[name] = func(e *Event) []any { f(e); return nil }
		default:
			return fmt.Errorf("client: %s.%s: event methods must be func(*Event) []any or func(*Event), not %s", rt, m.Name, fn.Type())
		}
	}
	n := c.Of(ns)
	if b, ok := h.(interface{ bindNamespace(*Namespace) }); ok {
		b.bindNamespace(n)
	}
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.handlersOf(ns).class = ch
	return nil
}

// lifecycle returns h's lifecycle method that method picks when h
// implements I, else nil.
func lifecycle[I, F any](h any, method func(I) F) F {
	if v, ok := h.(I); ok {
		return method(v)
	}
	var none F
	return none
}

// errUnbound reports a NamespaceBase used before Register.
var errUnbound = errors.New("client: namespace not registered")

// NamespaceBase, embedded in a class-style namespace type, gives it
// methods that default to the namespace it was registered on. On the
// catch-all namespace they fail, as there is no single namespace: use
// Client().Of(e.Namespace) instead. Its zero value is ready; Register binds
// it.
type NamespaceBase struct {
	n atomic.Pointer[Namespace]
}

func (b *NamespaceBase) bindNamespace(n *Namespace) { b.n.Store(n) }

// Namespace returns the namespace the value was registered on, or nil.
func (b *NamespaceBase) Namespace() *Namespace { return b.n.Load() }

// Client returns the client the value was registered with, or nil.
func (b *NamespaceBase) Client() *Client {
	if n := b.n.Load(); n != nil {
		return n.c
	}
	return nil
}

// Emit emits an event on the namespace.
func (b *NamespaceBase) Emit(event string, args ...any) error {
	n := b.n.Load()
	if n == nil {
		return errUnbound
	}
	return n.Emit(event, args...)
}

// Send emits the event "message" on the namespace.
func (b *NamespaceBase) Send(args ...any) error { return b.Emit("message", args...) }

// EmitWithCallback emits an event on the namespace and asks for an
// acknowledgement, which cb receives (see Namespace.EmitWithCallback).
func (b *NamespaceBase) EmitWithCallback(cb AckCallback, event string, args ...any) error {
	n := b.n.Load()
	if n == nil {
		return errUnbound
	}
	return n.EmitWithCallback(cb, event, args...)
}

// EmitWithAck emits an event on the namespace and waits for its
// acknowledgement (see Namespace.EmitWithAck).
func (b *NamespaceBase) EmitWithAck(ctx context.Context, event string, args ...any) (socketio.Args, error) {
	n := b.n.Load()
	if n == nil {
		return socketio.Args{}, errUnbound
	}
	return n.EmitWithAck(ctx, event, args...)
}

// Disconnect disconnects the namespace (see Namespace.Disconnect).
func (b *NamespaceBase) Disconnect() error {
	n := b.n.Load()
	if n == nil {
		return errUnbound
	}
	return n.Disconnect()
}

// SID returns the namespace's session id, or "" when not connected.
func (b *NamespaceBase) SID() string {
	if n := b.n.Load(); n != nil {
		return n.SID()
	}
	return ""
}
