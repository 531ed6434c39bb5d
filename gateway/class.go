package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"unicode"

	"github.com/siogate/siogate/protocol/socketio"
)

// Class-based namespaces: a Go type whose methods handle one namespace's
// events, bound once by Register (python-socketio's socketio.Namespace).
//
//	type Chat struct{ gateway.ClassNamespace }
//
//	func (c *Chat) OnConnect(s *gateway.Socket, auth json.RawMessage) error { return nil }
//	func (c *Chat) OnDisconnect(s *gateway.Socket, r gateway.DisconnectReason) {}
//	func (c *Chat) OnMyEvent(s *gateway.Socket, e *gateway.Event) []any { // event "my_event"
//		c.Emit(context.TODO(), "seen", e.Args.String(0)) // namespace-defaulting helper
//		return nil
//	}
//
//	srv.Register("/chat", &Chat{})
//
// Methods are found once, by reflection, at registration:
//   - OnConnect(*Socket, json.RawMessage) error and
//     OnDisconnect(*Socket, DisconnectReason) are the lifecycle hooks;
//   - On<Name>(*Socket, *Event) []any handles the event whose name is
//     <Name> in snake_case (OnMyEvent → "my_event", as python's
//     on_my_event), unless the type maps method names to event names with
//     an EventNames() map[string]string method;
//   - CatchAll(*Socket, *Event) []any handles every event without a
//     method.
//
// A handler set with Namespace.On wins over a class method for the same
// event. The instance is shared by every client of the namespace: keep
// per-client state in the socket's session, not in the type.

// ClassNamespace gives a class-based namespace type, when embedded, the
// namespace-defaulting helpers: Emit, Send, To, Call, EnterRoom,
// LeaveRoom, CloseRoom, Rooms, Disconnect and sessions, all acting on the
// namespace the type was registered for.
type ClassNamespace struct{ ns *Namespace }

type namespaceBinder interface{ bindNamespace(*Namespace) }

func (c *ClassNamespace) bindNamespace(ns *Namespace) { c.ns = ns }

// Namespace returns the namespace the type was registered for (nil before
// Register).
func (c *ClassNamespace) Namespace() *Namespace { return c.ns }

// Emit sends an event to every socket of the namespace.
func (c *ClassNamespace) Emit(ctx context.Context, event string, args ...any) error {
	return c.ns.Emit(ctx, event, args...)
}

// Send emits "message" to every socket of the namespace.
func (c *ClassNamespace) Send(ctx context.Context, args ...any) error { return c.ns.Send(ctx, args...) }

// To selects sockets in rooms (or with these sids).
func (c *ClassNamespace) To(rooms ...string) Operator { return c.ns.To(rooms...) }

// Call emits to socket sid and waits for its acknowledgement.
func (c *ClassNamespace) Call(ctx context.Context, sid, event string, args ...any) (socketio.Args, error) {
	return c.ns.Call(ctx, sid, event, args...)
}

// EnterRoom puts socket sid into room.
func (c *ClassNamespace) EnterRoom(ctx context.Context, sid, room string) error {
	return c.ns.EnterRoom(ctx, sid, room)
}

// LeaveRoom takes socket sid out of room.
func (c *ClassNamespace) LeaveRoom(ctx context.Context, sid, room string) error {
	return c.ns.LeaveRoom(ctx, sid, room)
}

// CloseRoom empties room.
func (c *ClassNamespace) CloseRoom(ctx context.Context, room string) error {
	return c.ns.CloseRoom(ctx, room)
}

// Rooms returns the rooms of socket sid.
func (c *ClassNamespace) Rooms(sid string) []string { return c.ns.Rooms(sid) }

// Disconnect disconnects socket sid from the namespace.
func (c *ClassNamespace) Disconnect(ctx context.Context, sid string) error {
	return c.ns.Disconnect(ctx, sid)
}

// GetSession returns a copy of the session of socket sid.
func (c *ClassNamespace) GetSession(sid string) (map[string]any, error) {
	return c.ns.GetSession(sid)
}

// SaveSession replaces the session of socket sid.
func (c *ClassNamespace) SaveSession(sid string, m map[string]any) error {
	return c.ns.SaveSession(sid, m)
}

// UpdateSession modifies the session of socket sid under its lock.
func (c *ClassNamespace) UpdateSession(sid string, fn func(map[string]any)) error {
	return c.ns.UpdateSession(sid, fn)
}

var (
	typeSocket     = reflect.TypeFor[*Socket]()
	typeEvent      = reflect.TypeFor[*Event]()
	typeRaw        = reflect.TypeFor[json.RawMessage]()
	typeError      = reflect.TypeFor[error]()
	typeReason     = reflect.TypeFor[DisconnectReason]()
	typeAnySlice   = reflect.TypeFor[[]any]()
	eventSignature = "func(*gateway.Socket, *gateway.Event) []any"
)

// Register binds the methods of h (a class-based namespace, usually a
// pointer to a struct embedding ClassNamespace) to the namespace name;
// "*" makes it the catch-all namespace. It fails, binding nothing, when an
// On… method does not have the signature its name calls for.
func (s *Server) Register(name string, h any) (*Namespace, error) {
	v := reflect.ValueOf(h)
	if !v.IsValid() {
		return nil, fmt.Errorf("gateway: Register(%q, nil)", name)
	}
	t := v.Type()
	var names map[string]string
	if n, ok := h.(interface{ EventNames() map[string]string }); ok {
		names = n.EventNames()
	}
	var (
		onConnect    ConnectHandler
		onDisconnect DisconnectHandler
		events       = map[string]EventHandler{}
	)
	for i := range t.NumMethod() {
		m := t.Method(i)
		fn := v.Method(i)
		ft := fn.Type()
		switch {
		case m.Name == "OnConnect":
			if ft.NumIn() != 2 || ft.In(0) != typeSocket || ft.In(1) != typeRaw || ft.NumOut() != 1 || ft.Out(0) != typeError {
				return nil, fmt.Errorf("gateway: %s.OnConnect must be func(*gateway.Socket, json.RawMessage) error", t)
			}
			onConnect = fn.Interface().(func(*Socket, json.RawMessage) error)
		case m.Name == "OnDisconnect":
			if ft.NumIn() != 2 || ft.In(0) != typeSocket || ft.In(1) != typeReason || ft.NumOut() != 0 {
				return nil, fmt.Errorf("gateway: %s.OnDisconnect must be func(*gateway.Socket, gateway.DisconnectReason)", t)
			}
			onDisconnect = fn.Interface().(func(*Socket, DisconnectReason))
		case m.Name == "CatchAll" || strings.HasPrefix(m.Name, "On") && len(m.Name) > 2:
			if ft.NumIn() != 2 || ft.In(0) != typeSocket || ft.In(1) != typeEvent || ft.NumOut() != 1 || ft.Out(0) != typeAnySlice {
				return nil, fmt.Errorf("gateway: %s.%s must be %s", t, m.Name, eventSignature)
			}
			event := "*"
			if m.Name != "CatchAll" {
				event = names[m.Name]
				if event == "" {
					event = snakeCase(m.Name[2:])
				}
			}
			events[event] = fn.Interface().(func(*Socket, *Event) []any)
		}
	}
	ns := s.Of(name)
	if b, ok := h.(namespaceBinder); ok {
		b.bindNamespace(ns)
	}
	ns.hmu.Lock()
	defer ns.hmu.Unlock()
	if onConnect != nil && ns.onConnect == nil {
		ns.onConnect = onConnect
	}
	if onDisconnect != nil && ns.onDisconnect == nil {
		ns.onDisconnect = onDisconnect
	}
	ns.classHandlers = events
	return ns, nil
}

// snakeCase turns a Go method-name suffix into a python-style event name:
// MyEvent → my_event, HTTPPing → http_ping.
func snakeCase(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) {
			prevLower := i > 0 && (unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1]))
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if i > 0 && (prevLower || nextLower && unicode.IsUpper(r[i-1])) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(c))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}
