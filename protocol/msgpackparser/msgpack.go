// Package msgpackparser is a Socket.IO parser (serializer) compatible with
// the npm package socket.io-msgpack-parser: each packet travels as one
// binary Engine.IO message holding the MessagePack map
// {type, data, nsp, id}, binary values inline (MessagePack bin), so there
// are no BINARY_EVENT/BINARY_ACK types and no attachment messages.
//
// Packets keep siogate's in-memory form (socketio.Packet: JSON data plus
// attachments), so application code is the same with every parser: a
// decoded packet's values are converted to JSON once, []byte values
// becoming attachments, and encoding goes the other way. Integers stay
// integers both ways.
//
//	srv := gateway.NewServer(gateway.Config{Parser: msgpackparser.Parser{}})
//	c := client.New(client.Options{Parser: msgpackparser.Parser{}})
package msgpackparser

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/siogate/siogate/protocol/socketio"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Parser is the msgpack Socket.IO parser. The zero value is ready to use.
type Parser struct{}

var _ socketio.Parser = Parser{}

// Encode returns the packet as one binary message.
func (Parser) Encode(p *socketio.Packet) ([]socketio.Message, error) {
	b, err := Marshal(p)
	if err != nil {
		return nil, err
	}
	return []socketio.Message{{Data: b, Binary: true}}, nil
}

// NewDecoder returns a decoder for one connection.
func (Parser) NewDecoder(limits socketio.Limits) socketio.PacketDecoder {
	return &Decoder{Limits: limits}
}

// Decoder decodes one connection's msgpack messages. Each message is a
// whole packet, so it never awaits more; a text message is an error.
type Decoder struct {
	// Limits bound the binary values of one packet.
	Limits socketio.Limits
}

// Add decodes one message. The packet's attachments alias data.
func (d *Decoder) Add(data []byte, binary bool) (*socketio.Packet, error) {
	if !binary {
		return nil, fmt.Errorf("%w: text message for the msgpack parser", socketio.ErrInvalidPacket)
	}
	p, err := unmarshal(data, d.Limits)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// Reset does nothing: the decoder keeps no state between messages.
func (d *Decoder) Reset() {}

// Unmarshal decodes one msgpack packet with the default limits. It checks
// what socket.io-msgpack-parser checks (type 0 to 4, a namespace string,
// the data shape each type requires, an integer id) and what siogate's
// packet form requires on top: a namespace starting with "/", an event
// name, an id on acknowledgements, an id within JavaScript's safe
// integers.
func Unmarshal(data []byte) (socketio.Packet, error) {
	return unmarshal(data, socketio.Limits{})
}

// maxDepth bounds the nesting of decoded values.
const maxDepth = 1000

// maxAckID keeps ids within JavaScript's exact integer range.
const maxAckID = 1<<53 - 1

// undefined stands for JavaScript's undefined, which old notepack versions
// encode as the extension 0 of one byte: a map entry holding it is
// dropped and an array element becomes null, as JSON.stringify does.
type undefined struct{}

func invalid(what string) error {
	return fmt.Errorf("%w: %s", socketio.ErrInvalidPacket, what)
}

func unmarshal(data []byte, limits socketio.Limits) (socketio.Packet, error) {
	var p socketio.Packet
	vd := valueDecoder{data: data}
	vd.r.Reset(data)
	vd.dec.Reset(&vd.r)
	root, err := vd.value(0)
	if err != nil {
		return p, err
	}
	if vd.r.Len() != 0 {
		return p, invalid("trailing bytes")
	}
	m, ok := root.(map[string]any)
	if !ok {
		return p, invalid("not a map")
	}
	t, ok := integer(m["type"])
	if !ok || t < 0 || t > int64(socketio.ConnectError) {
		return p, invalid("bad packet type")
	}
	p.Type = socketio.Type(t)
	nsp, ok := m["nsp"].(string)
	if !ok || len(nsp) == 0 || nsp[0] != '/' {
		return p, invalid("bad namespace")
	}
	p.Namespace = nsp
	if idv, present := m["id"]; present {
		if _, undef := idv.(undefined); !undef {
			id, ok := integer(idv)
			if !ok || id < 0 || id > maxAckID {
				return p, invalid("bad packet id")
			}
			p.HasID, p.ID = true, uint64(id)
		}
	}
	dv, hasData := m["data"]
	if _, undef := dv.(undefined); undef {
		dv, hasData = nil, false
	}
	if err := checkLimits(limits, vd.binaries, vd.binBytes); err != nil {
		return p, err
	}
	switch p.Type {
	case socketio.Connect:
		switch dv.(type) {
		case nil:
			// absent, or null (typeof null is "object" to the JavaScript
			// parser): no auth
		case map[string]any:
			if p.Data, err = appendPlain(dv); err != nil {
				return p, err
			}
		default:
			return p, invalid("CONNECT data must be an object")
		}
	case socketio.Disconnect:
		if hasData {
			return p, invalid("DISCONNECT carries no data")
		}
	case socketio.ConnectError:
		switch dv.(type) {
		case string, map[string]any:
			if p.Data, err = appendPlain(dv); err != nil {
				return p, err
			}
		default:
			return p, invalid("CONNECT_ERROR data must be a string or an object")
		}
	case socketio.Event, socketio.Ack:
		arr, ok := dv.([]any)
		if !ok {
			return p, invalid("EVENT and ACK data must be an array")
		}
		if p.Type == socketio.Event {
			if len(arr) == 0 {
				return p, invalid("EVENT without a name")
			}
			if _, ok := arr[0].(string); !ok {
				return p, invalid("EVENT name must be a string")
			}
		} else if !p.HasID {
			return p, invalid("ACK without an id")
		}
		if p.Data, p.Attachments, err = socketio.AppendArgs(nil, arr); err != nil {
			return p, invalid(err.Error())
		}
		if len(p.Attachments) > 0 {
			p.Type += socketio.BinaryEvent - socketio.Event
		}
	}
	return p, nil
}

var errTooBig = socketio.ErrTooManyAttachments

func checkLimits(l socketio.Limits, n, size int) error {
	limit := l.MaxAttachments
	if limit <= 0 {
		limit = socketio.DefaultMaxAttachments
	}
	if n > limit || (l.MaxBytes > 0 && size > l.MaxBytes) {
		return errTooBig
	}
	return nil
}

// integer reads a packet type or id: any msgpack integer, or a float
// holding an integer (JavaScript's Number.isInteger).
func integer(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case float64:
		if n == math.Trunc(n) && math.Abs(n) <= maxAckID {
			return int64(n), true
		}
	}
	return 0, false
}

// appendPlain encodes CONNECT and CONNECT_ERROR data as JSON, binary
// values inlined as base64 strings (they have no attachments).
func appendPlain(v any) ([]byte, error) {
	data, att, err := socketio.AppendArgs(nil, []any{inlineBinary(v)})
	if err != nil || len(att) > 0 {
		return nil, invalid("bad CONNECT data")
	}
	return data[1 : len(data)-1], nil
}

func inlineBinary(v any) any {
	switch t := v.(type) {
	case []byte:
		return base64.StdEncoding.EncodeToString(t)
	case []any:
		for i, e := range t {
			t[i] = inlineBinary(e)
		}
	case map[string]any:
		for k, e := range t {
			t[k] = inlineBinary(e)
		}
	}
	return v
}

// valueDecoder decodes msgpack into plain values: nil, bool, int64
// (uint64 beyond it), float64, string, []byte, []any, map[string]any.
// Binary values alias data.
type valueDecoder struct {
	data     []byte
	r        bytes.Reader
	dec      msgpack.Decoder
	binaries int
	binBytes int
}

// remaining is how many bytes are left to read.
func (vd *valueDecoder) remaining() int { return vd.r.Len() }

// take returns the next n bytes of data without copying them.
func (vd *valueDecoder) take(n int) ([]byte, error) {
	if n < 0 || n > vd.remaining() {
		return nil, invalid("truncated value")
	}
	off := len(vd.data) - vd.remaining()
	if _, err := vd.r.Seek(int64(n), io.SeekCurrent); err != nil {
		return nil, invalid("truncated value")
	}
	return vd.data[off : off+n : off+n], nil
}

func (vd *valueDecoder) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, invalid("values nested too deep")
	}
	c, err := vd.dec.PeekCode()
	if err != nil {
		return nil, invalid("truncated value")
	}
	switch {
	case c == msgpcode.Nil:
		_ = vd.dec.DecodeNil()
		return nil, nil
	case c == msgpcode.True || c == msgpcode.False:
		b, err := vd.dec.DecodeBool()
		return b, wrap(err)
	case msgpcode.IsFixedNum(c) || c == msgpcode.Int8 || c == msgpcode.Int16 || c == msgpcode.Int32 ||
		c == msgpcode.Int64 || c == msgpcode.Uint8 || c == msgpcode.Uint16 || c == msgpcode.Uint32:
		n, err := vd.dec.DecodeInt64()
		return n, wrap(err)
	case c == msgpcode.Uint64:
		n, err := vd.dec.DecodeUint64()
		if err != nil {
			return nil, wrap(err)
		}
		if n > math.MaxInt64 {
			return n, nil
		}
		return int64(n), nil
	case c == msgpcode.Float || c == msgpcode.Double:
		f, err := vd.dec.DecodeFloat64()
		return f, wrap(err)
	case msgpcode.IsString(c):
		n, err := vd.dec.DecodeBytesLen()
		if err != nil {
			return nil, wrap(err)
		}
		b, err := vd.take(n)
		return string(b), err
	case msgpcode.IsBin(c):
		n, err := vd.dec.DecodeBytesLen()
		if err != nil {
			return nil, wrap(err)
		}
		return vd.binary(n)
	case msgpcode.IsExt(c):
		return vd.ext()
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := vd.dec.DecodeArrayLen()
		if err != nil {
			return nil, wrap(err)
		}
		if n > vd.remaining() {
			return nil, invalid("truncated array")
		}
		// Lengths are only bounded by the bytes left: grow as elements
		// actually arrive.
		arr := make([]any, 0, min(n, 16))
		for range n {
			v, err := vd.value(depth + 1)
			if err != nil {
				return nil, err
			}
			if _, undef := v.(undefined); undef {
				v = nil
			}
			arr = append(arr, v)
		}
		return arr, nil
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := vd.dec.DecodeMapLen()
		if err != nil {
			return nil, wrap(err)
		}
		if n > vd.remaining()/2 {
			return nil, invalid("truncated map")
		}
		m := make(map[string]any, min(n, 16))
		for range n {
			kc, err := vd.dec.PeekCode()
			if err != nil || !msgpcode.IsString(kc) {
				return nil, invalid("map key is not a string")
			}
			k, err := vd.value(depth + 1)
			if err != nil {
				return nil, err
			}
			v, err := vd.value(depth + 1)
			if err != nil {
				return nil, err
			}
			m[k.(string)] = v
		}
		if depth > 0 {
			// JSON.stringify drops undefined members; the root keeps them
			// so that the packet checks can tell them apart.
			for k, v := range m {
				if _, undef := v.(undefined); undef {
					delete(m, k)
				}
			}
		}
		return m, nil
	}
	return nil, invalid(fmt.Sprintf("unknown msgpack code 0x%02x", c))
}

func (vd *valueDecoder) binary(n int) ([]byte, error) {
	b, err := vd.take(n)
	if err != nil {
		return nil, err
	}
	vd.binaries++
	vd.binBytes += n
	return b, nil
}

// ext decodes the extension types notepack.io produces: timestamps (-1)
// and its legacy type 0 (undefined, Date, ArrayBuffer). Timestamps become
// the strings JSON.stringify writes for a Date. Other types become
// [type, bytes], as notepack.io decodes them.
func (vd *valueDecoder) ext() (any, error) {
	id, n, err := vd.dec.DecodeExtHeader()
	if err != nil {
		return nil, wrap(err)
	}
	if n < 0 || n > vd.remaining() {
		return nil, invalid("truncated extension")
	}
	switch {
	case id == 0 && n == 1:
		if _, err := vd.take(1); err != nil {
			return nil, err
		}
		return undefined{}, nil
	case id == 0 && n == 8:
		b, err := vd.take(8)
		if err != nil {
			return nil, err
		}
		hi := int64(int32(binary.BigEndian.Uint32(b)))
		lo := int64(binary.BigEndian.Uint32(b[4:]))
		return isoDate(time.UnixMilli(hi<<32 | lo)), nil
	case id == 0:
		return vd.binary(n)
	case id == -1 && (n == 4 || n == 8 || n == 12):
		b, err := vd.take(n)
		if err != nil {
			return nil, err
		}
		var t time.Time
		switch n {
		case 4:
			t = time.Unix(int64(binary.BigEndian.Uint32(b)), 0)
		case 8:
			v := binary.BigEndian.Uint64(b)
			t = time.Unix(int64(v&(1<<34-1)), int64(v>>34))
		default:
			ns := binary.BigEndian.Uint32(b)
			t = time.Unix(int64(binary.BigEndian.Uint64(b[4:])), int64(ns))
		}
		return isoDate(t), nil
	}
	b, err := vd.take(n)
	if err != nil {
		return nil, err
	}
	vd.binaries++
	vd.binBytes += n
	return []any{int64(id), b}, nil
}

// isoDate formats t as Date.prototype.toISOString does.
func isoDate(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %v", socketio.ErrInvalidPacket, err)
}

// Marshal encodes p as socket.io-msgpack-parser does: a map of type
// (BINARY_EVENT and BINARY_ACK become EVENT and ACK), data when the packet
// has some, nsp, and id when it has one. Integers use their most compact
// form, as notepack.io writes them.
func Marshal(p *socketio.Packet) ([]byte, error) {
	var data any
	hasData := p.Data != nil
	switch p.Type {
	case socketio.Event, socketio.BinaryEvent, socketio.Ack, socketio.BinaryAck:
		args, err := socketio.ParseArgs(p.Data, p.Attachments)
		if err != nil {
			return nil, err
		}
		vals, err := args.Generic()
		if err != nil {
			return nil, err
		}
		data, hasData = vals, true
	case socketio.Disconnect:
		hasData = false
	default:
		if hasData {
			vals, err := socketio.NewArgs([][]byte{p.Data}, nil).Generic()
			if err != nil {
				return nil, err
			}
			data = vals[0]
		}
	}
	t := p.Type
	if t.IsBinary() {
		t -= socketio.BinaryEvent - socketio.Event
	}
	if t > socketio.ConnectError {
		return nil, errors.New("msgpackparser: unknown packet type " + t.String())
	}
	nsp := p.Namespace
	if nsp == "" {
		nsp = socketio.MainNamespace
	}
	var buf bytes.Buffer
	buf.Grow(len(p.Data) + len(nsp) + 24 + attachmentBytes(p))
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	n := 2
	if hasData {
		n++
	}
	if p.HasID {
		n++
	}
	e := valueEncoder{enc: enc}
	e.err = enc.EncodeMapLen(n)
	e.str("type")
	e.check(enc.EncodeInt(int64(t)))
	if hasData {
		e.str("data")
		e.value(data)
	}
	e.str("nsp")
	e.str(nsp)
	if p.HasID {
		e.str("id")
		e.check(enc.EncodeUint(p.ID))
	}
	if e.err != nil {
		return nil, e.err
	}
	return buf.Bytes(), nil
}

func attachmentBytes(p *socketio.Packet) int {
	n := 0
	for _, a := range p.Attachments {
		n += len(a) + 5
	}
	return n
}

// valueEncoder writes plain values, keeping the first error.
type valueEncoder struct {
	enc *msgpack.Encoder
	err error
}

func (e *valueEncoder) check(err error) {
	if e.err == nil {
		e.err = err
	}
}

func (e *valueEncoder) str(s string) { e.check(e.enc.EncodeString(s)) }

func (e *valueEncoder) value(v any) {
	if e.err != nil {
		return
	}
	switch t := v.(type) {
	case nil:
		e.check(e.enc.EncodeNil())
	case bool:
		e.check(e.enc.EncodeBool(t))
	case string:
		e.str(t)
	case int64:
		e.check(e.enc.EncodeInt(t))
	case float64:
		e.check(e.enc.EncodeFloat64(t))
	case []byte:
		e.check(e.enc.EncodeBytes(t))
	case []any:
		e.check(e.enc.EncodeArrayLen(len(t)))
		for _, x := range t {
			e.value(x)
		}
	case map[string]any:
		e.check(e.enc.EncodeMapLen(len(t)))
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			e.str(k)
			e.value(t[k])
		}
	default:
		e.check(fmt.Errorf("msgpackparser: cannot encode %T", v))
	}
}
