package pysio

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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
	// Server._emit_internal does). In the JSON form, data is read as the
	// current python-socketio reads it (see jsonArgs); binary data comes
	// back as []byte, which the gateway sends as attachments.
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
	// Binary reports a JSON emit with python-socketio's "binary" marker
	// (5.14.2 and later): its data held attachments in base64.
	Binary bool
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
		data := m["data"]
		if !pickled {
			msg.Binary = truthy(m["binary"])
			var err error
			if data, err = jsonArgs(data, msg.Binary); err != nil {
				return Message{}, err
			}
		}
		switch d := data.(type) {
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

// jsonArgs turns the data of a JSON emit into what python-socketio's
// receiving PubSubManager._handle_emit passes to Server.emit (a Tuple for
// several arguments), as the current release (5.16) builds and reads it
// (src/socketio/pubsub_manager.py at commit 6229261, 5.16.1):
//
//   - emit() wraps the data in a list: a tuple becomes the list of its
//     items, anything else a list of one ("if isinstance(data, tuple):
//     data = list(data) else: data = [data]", PR #1540, 5.16.0);
//   - if any part of it is bytes (Packet.data_is_binary), it sends
//     "binary": true and data = [the data with each bytes replaced by
//     {"_placeholder": true, "num": i}, base64 of attachment 0, of 1, ...]
//     (Packet.deconstruct_binary, base64.b64encode; PR #1509, 5.14.2);
//   - _handle_emit, if "binary", decodes data[1:] from base64 and puts
//     each attachment back in place of its placeholder
//     (Packet.reconstruct_binary), then reads a list of one as that one
//     argument and a longer (or empty) list as a tuple: several
//     arguments (none for []).
//
// 5.14.0 to 5.15 published the data unwrapped, so a list there was one
// argument; the messages carry no version, and the current receiver
// spreads such a list, so siogate does the same (a worker on 5.14.x or
// 5.15.x that emits a list as one argument should upgrade, as its Python
// servers would spread it too). Non-list data can only come from those
// versions and is one argument, as before.
func jsonArgs(data any, binary bool) (any, error) {
	if binary {
		parts, ok := data.([]any)
		if !ok || len(parts) == 0 {
			return nil, fmt.Errorf("pysio: binary emit whose data is not [data, attachments...]")
		}
		att := make([][]byte, len(parts)-1)
		for i, p := range parts[1:] {
			s, ok := p.(string)
			if !ok {
				return nil, fmt.Errorf("pysio: binary emit: attachment %d is not a base64 string", i)
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, fmt.Errorf("pysio: binary emit: attachment %d: %w", i, err)
			}
			att[i] = b
		}
		var err error
		if data, err = reconstruct(parts[0], att, 0); err != nil {
			return nil, err
		}
	}
	list, ok := data.([]any)
	if !ok {
		return data, nil
	}
	switch len(list) {
	case 0:
		return nil, nil // an empty tuple: no argument
	case 1:
		return list[0], nil
	}
	return Tuple(list), nil
}

// reconstruct puts attachments back in place of their placeholders, as
// python-socketio's Packet.reconstruct_binary does: a dict whose
// "_placeholder" is truthy and that has a "num" is attachment num. An
// index Python would reject (not an integer, out of range) fails; a
// negative one, which Python would count from the end, is refused too.
func reconstruct(v any, att [][]byte, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("pysio: binary emit nested deeper than %d", maxDepth)
	}
	switch t := v.(type) {
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			r, err := reconstruct(e, att, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		if num, has := t["num"]; has && truthy(t["_placeholder"]) {
			f, ok := num.(float64)
			if !ok || f != math.Trunc(f) || f < 0 || f >= float64(len(att)) {
				return nil, fmt.Errorf("pysio: binary emit: placeholder num %v for %d attachments", num, len(att))
			}
			return att[int(f)], nil
		}
		out := make(map[string]any, len(t))
		for k, e := range t {
			r, err := reconstruct(e, att, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}

// truthy is Python's truth value of a JSON value.
func truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case float64:
		return t != 0
	case string:
		return t != ""
	case []any:
		return len(t) > 0
	case map[string]any:
		return len(t) > 0
	}
	return true
}
