package socketio

import (
	"bytes"
	"encoding/json"
	"math"
)

// Generic decodes every argument into plain Go values for re-encoding in
// another format (msgpack between cluster nodes): objects as
// map[string]any, arrays as []any, integral numbers as int64, other numbers
// as float64, attachments as []byte.
func (a Args) Generic() ([]any, error) {
	out := make([]any, len(a.elems))
	for i, raw := range a.elems {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			return nil, err
		}
		v = plainNumbers(v)
		if len(a.attachments) > 0 && bytes.Contains(raw, placeholderKey) {
			var err error
			if v, err = replacePlaceholders(v, a.attachments); err != nil {
				return nil, err
			}
		}
		out[i] = v
	}
	return out, nil
}

// plainNumbers turns json.Number values into int64 or float64 in place.
func plainNumbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, err := t.Float64()
		if err != nil || math.IsInf(f, 0) {
			return t.String()
		}
		return f
	case map[string]any:
		for k, e := range t {
			t[k] = plainNumbers(e)
		}
	case []any:
		for i, e := range t {
			t[i] = plainNumbers(e)
		}
	}
	return v
}

// PacketFromGeneric builds an EVENT packet (BINARY_EVENT when binary) from
// generic values: data[0] is the event name. It is the inverse of Generic
// for packets that crossed another encoding.
func PacketFromGeneric(namespace string, data []any) (Packet, error) {
	if len(data) == 0 {
		return Packet{}, ErrInvalidPacket
	}
	name, ok := data[0].(string)
	if !ok {
		return Packet{}, ErrInvalidPacket
	}
	return NewEvent(namespace, name, data[1:])
}
