package pysio

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Methods of python-socketio's pub/sub messages.
const (
	MethodEmit       = "emit"
	MethodDisconnect = "disconnect"
	MethodEnterRoom  = "enter_room" // published by 5.8 and later
	MethodLeaveRoom  = "leave_room" // published by 5.8 and later
	MethodCloseRoom  = "close_room"
	MethodCallback   = "callback" // an ack for a Python server: not ours
)

// Message is one message of python-socketio's manager channel.
type Message struct {
	// Method is one of the Method constants (others are returned as they
	// come, for the caller to ignore).
	Method string
	// Namespace is the message's namespace ("/" when missing).
	Namespace string
	// Event and Args are an emit's event and arguments: a tuple of data is
	// several arguments, None none, anything else one (as python-socketio's
	// Server._emit_internal does).
	Event string
	Args  []any
	// Rooms are an emit's targets (room names or sids); empty means every
	// socket of the namespace. close_room, enter_room and leave_room name
	// their room here too.
	Rooms []string
	// Skip are the sids an emit skips (skip_sid, a string or a list).
	Skip []string
	// SID is the socket of disconnect, enter_room and leave_room.
	SID string
	// HostID is the publishing manager's id.
	HostID string
	// Callback reports that the emit asked for an ack. Only a manager
	// attached to a Python server can ask (a write-only manager raises
	// RuntimeError before publishing); the ack would go back to that
	// server's host_id on the channel, which siogate does not answer.
	Callback bool
	// Pickled reports the pickled form (python-socketio up to 5.13).
	Pickled bool
}

// ErrNotMessage is returned for data that decodes but is not a
// python-socketio message (no "method").
var ErrNotMessage = errors.New("pysio: not a python-socketio message")

// Decode reads one message of the channel: JSON (a leading '{', as
// python-socketio 5.14 and later publish; or that JSON as a JSON string,
// as Kombu's json serializer carries a str) or a pickle of plain data.
// A pickle asking for anything else fails with ErrUnsafePickle.
func Decode(data []byte) (Message, error) {
	if len(data) > 0 && data[0] == '"' {
		// A JSON string holding the JSON message: Kombu's default json
		// serializer encodes the str that json.dumps returned once more.
		var inner string
		if err := json.Unmarshal(data, &inner); err != nil {
			return Message{}, fmt.Errorf("pysio: bad JSON message: %w", err)
		}
		if !strings.HasPrefix(inner, "{") {
			return Message{}, ErrNotMessage
		}
		data = []byte(inner)
	}
	var raw any
	pickled := len(data) == 0 || data[0] != '{'
	if pickled {
		v, err := Unpickle(data)
		if err != nil {
			return Message{}, err
		}
		raw = v
	} else if err := json.Unmarshal(data, &raw); err != nil {
		return Message{}, fmt.Errorf("pysio: bad JSON message: %w", err)
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return Message{}, fmt.Errorf("%w: %T", ErrNotMessage, raw)
	}
	method, _ := m["method"].(string)
	if method == "" {
		return Message{}, ErrNotMessage
	}
	msg := Message{Method: method, Namespace: "/", Pickled: pickled}
	if ns, _ := m["namespace"].(string); ns != "" {
		msg.Namespace = ns
	}
	msg.HostID, _ = m["host_id"].(string)
	msg.SID, _ = m["sid"].(string)
	msg.Rooms = names(m["room"])
	switch method {
	case MethodEmit:
		ev, ok := m["event"].(string)
		if !ok {
			return Message{}, fmt.Errorf("pysio: emit without an event name")
		}
		msg.Event = ev
		switch d := m["data"].(type) {
		case Tuple:
			msg.Args = []any(d)
		case nil:
		default:
			msg.Args = []any{d}
		}
		msg.Skip = names(m["skip_sid"])
		msg.Callback = m["callback"] != nil
	case MethodDisconnect, MethodEnterRoom, MethodLeaveRoom:
		if msg.SID == "" {
			return Message{}, fmt.Errorf("pysio: %s without a sid", method)
		}
	}
	return msg, nil
}

// names reads a room or skip_sid value: a string, or a list or tuple of
// strings; None is none.
func names(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		return strs(t)
	case Tuple:
		return strs(t)
	}
	return nil
}

func strs(list []any) []string {
	var out []string
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
