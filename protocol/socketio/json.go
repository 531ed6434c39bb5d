package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf8"
)

// SplitArray returns the elements of a JSON array as sub-slices of data,
// without decoding them. data must be valid JSON.
func SplitArray(data []byte) ([][]byte, error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return nil, ErrInvalidPacket
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return [][]byte{}, nil
	}
	elems := make([][]byte, 0, 4)
	for {
		start := i
		end, err := skipValue(data, i)
		if err != nil {
			return nil, err
		}
		elems = append(elems, data[start:end])
		i = skipSpace(data, end)
		if i >= len(data) {
			return nil, ErrInvalidPacket
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case ']':
			return elems, nil
		default:
			return nil, ErrInvalidPacket
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value starting at i. It
// relies on the input having been validated; it only tracks nesting and
// strings.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, ErrInvalidPacket
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, err := skipString(b, i)
				if err != nil {
					return 0, err
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
			i++
		}
		return 0, ErrInvalidPacket
	default:
		for i < len(b) && b[i] != ',' && b[i] != ']' && b[i] != '}' && !isSpace(b[i]) {
			i++
		}
		return i, nil
	}
}

func skipString(b []byte, i int) (int, error) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, nil
		}
	}
	return 0, ErrInvalidPacket
}

// placeholder is the JSON object that stands for an attachment.
type placeholder struct {
	Placeholder bool `json:"_placeholder"`
	Num         *int `json:"num"`
}

var placeholderKey = []byte(`"_placeholder"`)

// checkPlaceholders verifies that every placeholder in a binary packet
// refers to a received attachment.
func checkPlaceholders(p *Packet) error {
	if !bytes.Contains(p.Data, placeholderKey) {
		return nil
	}
	var v any
	if err := json.Unmarshal(p.Data, &v); err != nil {
		return ErrInvalidPacket
	}
	if _, err := replacePlaceholders(v, p.Attachments); err != nil {
		return err
	}
	return nil
}

// replacePlaceholders swaps placeholder objects in a decoded tree for their
// attachments.
func replacePlaceholders(v any, att [][]byte) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		if ph, ok := t["_placeholder"].(bool); ok && ph && len(t) == 2 {
			n, ok := placeholderNum(t["num"])
			if !ok || n < 0 || n != math.Trunc(n) || n >= float64(len(att)) {
				return nil, fmt.Errorf("%w: placeholder refers to a missing attachment", ErrInvalidPacket)
			}
			return att[int(n)], nil
		}
		for k, e := range t {
			r, err := replacePlaceholders(e, att)
			if err != nil {
				return nil, err
			}
			t[k] = r
		}
	case []any:
		for i, e := range t {
			r, err := replacePlaceholders(e, att)
			if err != nil {
				return nil, err
			}
			t[i] = r
		}
	}
	return v, nil
}

// placeholderNum reads a placeholder's num however the tree was decoded.
func placeholderNum(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// Args are the arguments of an EVENT or ACK packet, kept as raw JSON and
// decoded on demand into the caller's types.
type Args struct {
	elems       [][]byte
	attachments [][]byte
	json        JSONCodec // nil: encoding/json
}

// WithJSON returns the arguments decoding with codec (nil: encoding/json).
func (a Args) WithJSON(codec JSONCodec) Args {
	a.json = codec
	return a
}

// unmarshal decodes raw JSON with the arguments' codec.
func (a Args) unmarshal(raw []byte, v any) error {
	if a.json != nil {
		return a.json.Unmarshal(raw, v)
	}
	return json.Unmarshal(raw, v)
}

// NewArgs wraps raw JSON elements and the packet's attachments.
func NewArgs(elems [][]byte, attachments [][]byte) Args {
	return Args{elems: elems, attachments: attachments}
}

// ParseArgs splits a packet's JSON array payload into Args. data must be
// valid JSON (Parse and Decoder have checked it); use json.Valid first on
// bytes from elsewhere.
func ParseArgs(data []byte, attachments [][]byte) (Args, error) {
	if data == nil {
		return Args{attachments: attachments}, nil
	}
	elems, err := SplitArray(data)
	if err != nil {
		return Args{}, err
	}
	return Args{elems: elems, attachments: attachments}, nil
}

// Len returns the number of arguments.
func (a Args) Len() int { return len(a.elems) }

// Raw returns argument i as raw JSON (binary placeholders intact), or nil if
// out of range.
func (a Args) Raw(i int) json.RawMessage {
	if i < 0 || i >= len(a.elems) {
		return nil
	}
	return a.elems[i]
}

// Attachments returns the binary attachments the arguments refer to.
func (a Args) Attachments() [][]byte { return a.attachments }

// Slice returns the arguments from i on.
func (a Args) Slice(i int) Args {
	if i > len(a.elems) {
		i = len(a.elems)
	}
	return Args{elems: a.elems[i:], attachments: a.attachments, json: a.json}
}

// ErrNoArg reports a Decode of an argument that was not sent.
var ErrNoArg = errors.New("socketio: no such argument")

// Decode decodes argument i into v, like json.Unmarshal (or the codec set
// with WithJSON). Binary attachments decode into []byte values (also inside
// maps, slices and structs), and into []byte elements of an any tree.
func (a Args) Decode(i int, v any) error {
	if i < 0 || i >= len(a.elems) {
		return fmt.Errorf("%w: index %d of %d", ErrNoArg, i, len(a.elems))
	}
	raw := a.elems[i]
	if len(a.attachments) == 0 || !bytes.Contains(raw, placeholderKey) {
		return a.unmarshal(raw, v)
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return err
	}
	tree, err := replacePlaceholders(tree, a.attachments)
	if err != nil {
		return err
	}
	if p, ok := v.(*any); ok {
		*p = tree
		return nil
	}
	// Generic containers hold the tree's []byte values as they are.
	if p, ok := v.(*map[string]any); ok {
		if m, ok := tree.(map[string]any); ok {
			if *p == nil {
				*p = m
			} else {
				maps.Copy(*p, m) // json.Unmarshal merges too
			}
			return nil
		}
	}
	if p, ok := v.(*[]any); ok {
		if s, ok := tree.([]any); ok {
			*p = s
			return nil
		}
	}
	if p, ok := v.(*[]byte); ok {
		if b, ok := tree.([]byte); ok {
			*p = b
			return nil
		}
	}
	// encoding/json turns []byte into base64 and back, so a round trip
	// through the tree lands attachments in []byte fields.
	b, err := json.Marshal(tree)
	if err != nil {
		return err
	}
	return a.unmarshal(b, v)
}

// String returns argument i when it is a JSON string, else "".
func (a Args) String(i int) string {
	var s string
	if a.Decode(i, &s) != nil {
		return ""
	}
	return s
}

// Values decodes every argument into generic Go values: JSON types as
// encoding/json decodes them into any, attachments as []byte.
func (a Args) Values() ([]any, error) {
	out := make([]any, len(a.elems))
	for i := range a.elems {
		if err := a.Decode(i, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// MarshalJSON encodes the arguments as a JSON array with attachments
// inlined as base64 strings (the encoding/json form of []byte).
func (a Args) MarshalJSON() ([]byte, error) {
	vals, err := a.Values()
	if err != nil {
		return nil, err
	}
	return json.Marshal(vals)
}

// AppendArgs appends args as a JSON array to dst. []byte values (at the top
// level or inside map[string]any and []any values) are replaced by
// placeholders and returned as attachments, in order. Other values are
// encoded with encoding/json.
func AppendArgs(dst []byte, args []any) ([]byte, [][]byte, error) {
	return AppendArgsWith(nil, dst, args)
}

// AppendArgsWith is AppendArgs marshaling the values it has no fast path
// for (structs, typed maps and slices...) with codec (nil: encoding/json).
// codec must produce valid JSON.
func AppendArgsWith(codec JSONCodec, dst []byte, args []any) ([]byte, [][]byte, error) {
	e := argEncoder{buf: dst, json: codec}
	e.buf = append(e.buf, '[')
	for i, a := range args {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		if err := e.value(a); err != nil {
			return dst, nil, err
		}
	}
	e.buf = append(e.buf, ']')
	return e.buf, e.att, nil
}

// AppendEvent appends an event name and its arguments as one JSON array.
func AppendEvent(dst []byte, event string, args []any) ([]byte, [][]byte, error) {
	return AppendEventWith(nil, dst, event, args)
}

// AppendEventWith is AppendEvent with a JSON codec, as AppendArgsWith.
func AppendEventWith(codec JSONCodec, dst []byte, event string, args []any) ([]byte, [][]byte, error) {
	e := argEncoder{buf: dst, json: codec}
	e.buf = append(e.buf, '[')
	e.buf = AppendString(e.buf, event)
	for _, a := range args {
		e.buf = append(e.buf, ',')
		if err := e.value(a); err != nil {
			return dst, nil, err
		}
	}
	e.buf = append(e.buf, ']')
	return e.buf, e.att, nil
}

type argEncoder struct {
	buf  []byte
	att  [][]byte
	json JSONCodec // nil: encoding/json
}

func (e *argEncoder) value(v any) error {
	switch t := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case string:
		e.buf = AppendString(e.buf, t)
	case bool:
		e.buf = strconv.AppendBool(e.buf, t)
	case int:
		e.buf = strconv.AppendInt(e.buf, int64(t), 10)
	case int64:
		e.buf = strconv.AppendInt(e.buf, t, 10)
	case int32:
		e.buf = strconv.AppendInt(e.buf, int64(t), 10)
	case uint64:
		e.buf = strconv.AppendUint(e.buf, t, 10)
	case uint32:
		e.buf = strconv.AppendUint(e.buf, uint64(t), 10)
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			e.buf = append(e.buf, "null"...) // as JSON.stringify does
			return nil
		}
		e.buf = appendFloat(e.buf, t)
	case json.RawMessage:
		if !json.Valid(t) {
			return fmt.Errorf("socketio: invalid json.RawMessage argument")
		}
		e.buf = append(e.buf, t...)
	case []byte:
		e.buf = append(e.buf, `{"_placeholder":true,"num":`...)
		e.buf = strconv.AppendInt(e.buf, int64(len(e.att)), 10)
		e.buf = append(e.buf, '}')
		e.att = append(e.att, t)
	case Args:
		e.buf = append(e.buf, '[')
		for i := range t.elems {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			var x any
			if err := t.Decode(i, &x); err != nil {
				return err
			}
			if err := e.value(x); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
	case []any:
		e.buf = append(e.buf, '[')
		for i, x := range t {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.value(x); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
	case map[string]any:
		e.buf = append(e.buf, '{')
		first := true
		for _, k := range sortedKeys(t) {
			if !first {
				e.buf = append(e.buf, ',')
			}
			first = false
			e.buf = AppendString(e.buf, k)
			e.buf = append(e.buf, ':')
			if err := e.value(t[k]); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, '}')
	default:
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			// Named byte-slice types are binary too.
			return e.value(rv.Bytes())
		}
		var b []byte
		var err error
		if e.json != nil {
			b, err = e.json.Marshal(v)
		} else {
			b, err = json.Marshal(v)
		}
		if err != nil {
			return fmt.Errorf("socketio: cannot encode argument of type %T: %w", v, err)
		}
		e.buf = append(e.buf, b...)
	}
	return nil
}

// HasBinary reports whether encoding args would produce attachments.
func HasBinary(args []any) bool {
	for _, a := range args {
		if hasBinary(a) {
			return true
		}
	}
	return false
}

func hasBinary(v any) bool {
	switch t := v.(type) {
	case []byte:
		return true
	case []any:
		return HasBinary(t)
	case map[string]any:
		for _, x := range t {
			if hasBinary(x) {
				return true
			}
		}
	case Args:
		return len(t.attachments) > 0
	case json.RawMessage:
		return false
	default:
		// Named byte-slice types are binary too, as in argEncoder.value.
		rv := reflect.ValueOf(v)
		return rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8
	}
	return false
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}

// NewEvent builds an EVENT packet (BINARY_EVENT when args hold binary).
func NewEvent(namespace, event string, args []any) (Packet, error) {
	return NewEventWith(nil, namespace, event, args)
}

// NewEventWith is NewEvent marshaling values with codec (nil:
// encoding/json), as AppendArgsWith.
func NewEventWith(codec JSONCodec, namespace, event string, args []any) (Packet, error) {
	data, att, err := AppendEventWith(codec, nil, event, args)
	if err != nil {
		return Packet{}, err
	}
	t := Event
	if len(att) > 0 {
		t = BinaryEvent
	}
	return Packet{Type: t, Namespace: namespace, Data: data, Attachments: att}, nil
}

// NewAck builds the ACK (or BINARY_ACK) answering ack id with args.
func NewAck(namespace string, id uint64, args []any) (Packet, error) {
	return NewAckWith(nil, namespace, id, args)
}

// NewAckWith is NewAck marshaling values with codec (nil: encoding/json),
// as AppendArgsWith.
func NewAckWith(codec JSONCodec, namespace string, id uint64, args []any) (Packet, error) {
	data, att, err := AppendArgsWith(codec, nil, args)
	if err != nil {
		return Packet{}, err
	}
	t := Ack
	if len(att) > 0 {
		t = BinaryAck
	}
	return Packet{Type: t, Namespace: namespace, HasID: true, ID: id, Data: data, Attachments: att}, nil
}

// EventName returns the event name of an EVENT packet and its arguments.
func EventName(p *Packet) (string, Args, error) {
	args, err := ParseArgs(p.Data, p.Attachments)
	if err != nil || args.Len() == 0 {
		return "", Args{}, ErrInvalidPacket
	}
	name, ok := plainString(args.elems[0])
	if !ok {
		if err := json.Unmarshal(args.elems[0], &name); err != nil {
			return "", Args{}, ErrInvalidPacket
		}
	}
	return name, args.Slice(1), nil
}

// plainString returns the value of a JSON string token without escapes,
// the usual event name, without going through encoding/json. Other tokens
// (escapes; bytes that are not UTF-8, which encoding/json replaces) are
// left to encoding/json. FuzzPlainString checks the two agree.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	ascii := true
	for _, c := range body {
		if c == '\\' || c == '"' || c < 0x20 {
			return "", false
		}
		ascii = ascii && c < utf8.RuneSelf
	}
	if !ascii && !utf8.Valid(body) {
		return "", false
	}
	return string(body), true
}

// Items returns the arguments as values ready to be sent again: each as
// its raw JSON, or, when it holds binary placeholders, as a decoded tree
// with []byte attachments, so re-encoding renumbers them.
func (a Args) Items() []any {
	out := make([]any, len(a.elems))
	for i, raw := range a.elems {
		if len(a.attachments) > 0 && bytes.Contains(raw, placeholderKey) {
			var v any
			if a.Decode(i, &v) == nil {
				out[i] = v
				continue
			}
		}
		out[i] = json.RawMessage(raw)
	}
	return out
}

// appendFloat appends f as JSON.stringify (and encoding/json) write it:
// plain decimal digits from 1e-6 up to 1e21, an exponent only outside,
// with no leading zero in it. strconv's 'g' would write 1e+06 for a
// million, and 1.7965702654237133e+18 for a nanosecond timestamp that
// came through a broker as a float.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-07 → e-7, as JavaScript writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// AppendNumber appends f as JavaScript's JSON.stringify writes a number
// (null for NaN and the infinities), as the packet encoders do.
func AppendNumber(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	return appendFloat(dst, f)
}
