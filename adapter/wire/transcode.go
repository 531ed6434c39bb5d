package wire

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"strconv"

	"github.com/siogate/siogate/protocol/socketio"
)

// Event returns the head's packet as a Socket.IO EVENT packet and the
// namespace the sender named ("" when none). It writes the packet's JSON
// straight from its msgpack bytes, as Packet then Packet.Decode would
// write it (map keys sorted, numbers as JavaScript writes them, binary as
// attachments), without building the values; packets it does not know
// how to write so (extension types, keys that are not strings, a key
// given twice) take that longer way.
func (h BroadcastHead) Event() (nsp string, p socketio.Packet, err error) {
	if nsp, p, ok := transcodePacket(h.packet); ok {
		return nsp, p, nil
	}
	wp, err := h.Packet()
	if err != nil {
		return "", p, err
	}
	p, err = wp.Decode()
	return wp.Nsp, p, err
}

// transcodePacket reads a packet {type, data, nsp}; false when it needs
// the generic decoder.
func transcodePacket(b []byte) (nsp string, p socketio.Packet, ok bool) {
	n, i, ok := mapLen(b, 0)
	if !ok {
		return "", p, false
	}
	var data []byte
	var seen [3]bool // type, data, nsp
	for range n {
		k, ks, ok := strAt(b, i)
		if !ok {
			return "", p, false
		}
		j, ok := msgpackSkip(b, ks, 0)
		if !ok {
			return "", p, false
		}
		field := -1
		switch string(k) {
		case "type":
			field = 0
		case "data":
			field = 1
		case "nsp":
			field = 2
		}
		if field >= 0 {
			if seen[field] {
				return "", p, false // a key given twice: as the generic decoder has it
			}
			seen[field] = true
		}
		switch string(k) {
		case "type":
			if !isMsgpackInt(b[ks]) {
				return "", p, false // the generic decoder refuses it, or reads nil as 0
			}
		case "data":
			data = b[ks:j]
		case "nsp":
			s, _, ok := strAt(b, ks)
			if !ok {
				return "", p, false
			}
			nsp = string(s)
		}
		i = j
	}
	// data is [event, ...args].
	m, i, ok := arrayLen(data, 0)
	if !ok || m == 0 {
		return "", p, false
	}
	var keys [8]mapKey
	t := transcoder{buf: make([]byte, 0, len(data)+16), keys: keys[:0]}
	t.buf = append(t.buf, '[')
	for k := range m {
		if k > 0 {
			t.buf = append(t.buf, ',')
		} else if _, _, ok := strAt(data, i); !ok {
			return "", p, false // the event name is not a string
		}
		if i, ok = t.value(data, i, 0); !ok {
			return "", p, false
		}
	}
	t.buf = append(t.buf, ']')
	p = socketio.Packet{Type: socketio.Event, Namespace: nsp, Data: t.buf, Attachments: t.att}
	if p.Namespace == "" {
		p.Namespace = socketio.MainNamespace
	}
	if len(t.att) > 0 {
		p.Type = socketio.BinaryEvent
	}
	return nsp, p, true
}

// isMsgpackInt reports whether c starts a msgpack integer.
func isMsgpackInt(c byte) bool {
	return c <= 0x7f || c >= 0xe0 || (c >= 0xcc && c <= 0xd3)
}

type transcoder struct {
	buf  []byte
	att  [][]byte
	keys []mapKey // scratch for sorting one map's keys at a time
}

// mapKey is one map entry: its key, and where its value starts.
type mapKey struct {
	key []byte
	val int
}

// value writes the msgpack value at b[i] as JSON and returns where it
// ends.
func (t *transcoder) value(b []byte, i, depth int) (int, bool) {
	if i >= len(b) || depth > 100 {
		return 0, false
	}
	c := b[i]
	switch {
	case c <= 0x7f:
		t.buf = strconv.AppendInt(t.buf, int64(c), 10)
		return i + 1, true
	case c >= 0xe0:
		t.buf = strconv.AppendInt(t.buf, int64(int8(c)), 10)
		return i + 1, true
	case c == 0xc0:
		t.buf = append(t.buf, "null"...)
		return i + 1, true
	case c == 0xc2:
		t.buf = append(t.buf, "false"...)
		return i + 1, true
	case c == 0xc3:
		t.buf = append(t.buf, "true"...)
		return i + 1, true
	case c >= 0xa0 && c <= 0xbf || c == 0xd9 || c == 0xda || c == 0xdb:
		s, end, ok := strAt(b, i)
		if !ok {
			return 0, false
		}
		t.buf = socketio.AppendString(t.buf, string(s))
		return end, true
	case c == 0xc4 || c == 0xc5 || c == 0xc6: // bin
		j, ok := msgpackSkip(b, i, depth)
		if !ok {
			return 0, false
		}
		hdr := 2 // 0xc4 type, length: bin 8
		if c == 0xc5 {
			hdr = 3
		} else if c == 0xc6 {
			hdr = 5
		}
		t.buf = append(t.buf, `{"_placeholder":true,"num":`...)
		t.buf = strconv.AppendInt(t.buf, int64(len(t.att)), 10)
		t.buf = append(t.buf, '}')
		t.att = append(t.att, bytes.Clone(b[i+hdr:j]))
		return j, true
	case c >= 0x90 && c <= 0x9f || c == 0xdc || c == 0xdd:
		n, j, ok := arrayLen(b, i)
		if !ok {
			return 0, false
		}
		t.buf = append(t.buf, '[')
		for k := range n {
			if k > 0 {
				t.buf = append(t.buf, ',')
			}
			if j, ok = t.value(b, j, depth+1); !ok {
				return 0, false
			}
		}
		t.buf = append(t.buf, ']')
		return j, true
	case c >= 0x80 && c <= 0x8f || c == 0xde || c == 0xdf:
		return t.object(b, i, depth)
	}
	j, ok := msgpackSkip(b, i, depth)
	if !ok {
		return 0, false
	}
	v := b[i+1 : j]
	switch c {
	case 0xcc:
		t.buf = strconv.AppendUint(t.buf, uint64(v[0]), 10)
	case 0xcd:
		t.buf = strconv.AppendUint(t.buf, uint64(binary.BigEndian.Uint16(v)), 10)
	case 0xce:
		t.buf = strconv.AppendUint(t.buf, uint64(binary.BigEndian.Uint32(v)), 10)
	case 0xcf:
		if u := binary.BigEndian.Uint64(v); u <= math.MaxInt64 {
			t.buf = strconv.AppendUint(t.buf, u, 10)
		} else {
			t.buf = socketio.AppendNumber(t.buf, float64(u))
		}
	case 0xd0:
		t.buf = strconv.AppendInt(t.buf, int64(int8(v[0])), 10)
	case 0xd1:
		t.buf = strconv.AppendInt(t.buf, int64(int16(binary.BigEndian.Uint16(v))), 10)
	case 0xd2:
		t.buf = strconv.AppendInt(t.buf, int64(int32(binary.BigEndian.Uint32(v))), 10)
	case 0xd3:
		t.buf = strconv.AppendInt(t.buf, int64(binary.BigEndian.Uint64(v)), 10)
	case 0xca:
		t.buf = socketio.AppendNumber(t.buf, float64(math.Float32frombits(binary.BigEndian.Uint32(v))))
	case 0xcb:
		t.buf = socketio.AppendNumber(t.buf, math.Float64frombits(binary.BigEndian.Uint64(v)))
	default:
		return 0, false // extension types (dates...): the generic decoder
	}
	return j, true
}

// object writes a map with string keys as a JSON object, keys sorted.
func (t *transcoder) object(b []byte, i, depth int) (int, bool) {
	n, j, ok := mapLen(b, i)
	if !ok {
		return 0, false
	}
	start := len(t.keys)
	for range n {
		k, vs, ok := strAt(b, j)
		if !ok {
			return 0, false // a key that is not a string
		}
		t.keys = append(t.keys, mapKey{key: k, val: vs})
		if j, ok = msgpackSkip(b, vs, depth+1); !ok {
			return 0, false
		}
	}
	keys := t.keys[start:]
	slices.SortFunc(keys, func(x, y mapKey) int { return bytes.Compare(x.key, y.key) })
	t.buf = append(t.buf, '{')
	for k, e := range keys {
		if k > 0 {
			if bytes.Equal(keys[k-1].key, e.key) {
				return 0, false // a key given twice: the last one wins
			}
			t.buf = append(t.buf, ',')
		}
		t.buf = socketio.AppendString(t.buf, string(e.key))
		t.buf = append(t.buf, ':')
		if _, ok := t.value(b, e.val, depth+1); !ok {
			return 0, false
		}
	}
	t.buf = append(t.buf, '}')
	t.keys = t.keys[:start]
	return j, true
}

// strAt reads the msgpack string at b[i]: its bytes and where it ends.
func strAt(b []byte, i int) (s []byte, end int, ok bool) {
	if i >= len(b) {
		return nil, 0, false
	}
	var n, h int
	switch c := b[i]; {
	case c >= 0xa0 && c <= 0xbf:
		n, h = int(c&0x1f), 1
	case c == 0xd9 && i+2 <= len(b):
		n, h = int(b[i+1]), 2
	case c == 0xda && i+3 <= len(b):
		n, h = int(binary.BigEndian.Uint16(b[i+1:])), 3
	case c == 0xdb && i+5 <= len(b):
		n, h = int(binary.BigEndian.Uint32(b[i+1:])), 5
	default:
		return nil, 0, false
	}
	if n < 0 || n > len(b)-i-h {
		return nil, 0, false
	}
	return b[i+h : i+h+n], i + h + n, true
}

// arrayLen reads the msgpack array header at b[i]: its length and where
// its first element starts.
func arrayLen(b []byte, i int) (n, first int, ok bool) {
	return header(b, i, 0x90, 0xdc)
}

// mapLen reads the msgpack map header at b[i], as arrayLen.
func mapLen(b []byte, i int) (n, first int, ok bool) {
	return header(b, i, 0x80, 0xde)
}

func header(b []byte, i int, fix, x16 byte) (n, first int, ok bool) {
	if i >= len(b) {
		return 0, 0, false
	}
	switch c := b[i]; {
	case c >= fix && c <= fix+0x0f:
		n, first = int(c&0x0f), i+1
	case c == x16 && i+3 <= len(b):
		n, first = int(binary.BigEndian.Uint16(b[i+1:])), i+3
	case c == x16+1 && i+5 <= len(b):
		n, first = int(binary.BigEndian.Uint32(b[i+1:])), i+5
	default:
		return 0, 0, false
	}
	// Each element takes a byte at least.
	return n, first, n >= 0 && n <= len(b)-first
}

// decodeOpts decodes broadcast options, reading the usual shape (rooms
// and except as arrays of strings, flags as a map) without the generic
// decoder, which takes any other.
func decodeOpts(b []byte) (Opts, error) {
	if o, ok := readOpts(b); ok {
		return o, nil
	}
	return unmarshal[Opts](b)
}

// unmarshal decodes b with the generic decoder (a function of its own so
// that its callers' values stay on the stack).
func unmarshal[T any](b []byte) (T, error) {
	var v T
	err := Unmarshal(b, &v)
	return v, err
}

func readOpts(b []byte) (o Opts, ok bool) {
	n, i, ok := mapLen(b, 0)
	if !ok {
		return o, false
	}
	seen := 0
	for range n {
		k, vs, ok := strAt(b, i)
		if !ok {
			return o, false
		}
		j, ok := msgpackSkip(b, vs, 0)
		if !ok {
			return o, false
		}
		var bit int
		switch string(k) {
		case "rooms":
			bit = 1
			o.Rooms, ok = readStrings(b[vs:j])
		case "except":
			bit = 2
			o.Except, ok = readStrings(b[vs:j])
		case "flags":
			bit = 4
			if o.Flags, ok = readFlags(b[vs:j]); !ok {
				var err error
				o.Flags, err = unmarshal[map[string]any](b[vs:j])
				ok = err == nil
			}
		}
		if !ok || seen&bit != 0 {
			return o, false // a key given twice: the last one wins
		}
		seen |= bit
		i = j
	}
	return o, i == len(b)
}

// readStrings reads an array of strings.
func readStrings(b []byte) ([]string, bool) {
	n, i, ok := arrayLen(b, 0)
	if !ok {
		return nil, false
	}
	out := make([]string, n)
	for k := range out {
		s, end, ok := strAt(b, i)
		if !ok {
			return nil, false
		}
		out[k], i = string(s), end
	}
	return out, i == len(b)
}

// readFlags reads a map of boolean flags (Node's volatile, compress...).
func readFlags(b []byte) (map[string]any, bool) {
	n, i, ok := mapLen(b, 0)
	if !ok {
		return nil, false
	}
	m := make(map[string]any, n)
	for range n {
		k, vs, ok := strAt(b, i)
		if !ok || vs >= len(b) || b[vs] != 0xc2 && b[vs] != 0xc3 {
			return nil, false
		}
		if _, dup := m[string(k)]; dup {
			return nil, false
		}
		m[string(k)] = b[vs] == 0xc3
		i = vs + 1
	}
	return m, i == len(b)
}
