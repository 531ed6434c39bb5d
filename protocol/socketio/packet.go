// Package socketio encodes and decodes Socket.IO protocol v5 packets with the
// default (JSON) parser, including binary attachments. Parser is the
// interface of pluggable serializers (see JSONParser and the msgpackparser
// package); JSONCodec plugs in the JSON library used for application values.
//
// Every function here is pure: no I/O, timers or logging. Binary attachment
// reassembly is an explicit state value (Decoder) owned by the caller.
package socketio

import (
	"errors"
	"fmt"
	"strconv"
)

// Protocol is the Socket.IO protocol revision this package speaks.
const Protocol = 5

// Type is the type of a Socket.IO packet.
type Type byte

// The Socket.IO packet types.
const (
	Connect      Type = 0
	Disconnect   Type = 1
	Event        Type = 2
	Ack          Type = 3
	ConnectError Type = 4
	BinaryEvent  Type = 5
	BinaryAck    Type = 6
)

var typeNames = [...]string{"CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK"}

// String returns the type's name as the spec spells it.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", byte(t))
}

// IsBinary reports whether packets of this type carry attachments.
func (t Type) IsBinary() bool { return t == BinaryEvent || t == BinaryAck }

// ErrInvalidPacket reports bytes that are not a valid Socket.IO v5 packet.
// A receiver must close the connection.
var ErrInvalidPacket = errors.New("socketio: invalid packet")

// MainNamespace is the default namespace.
const MainNamespace = "/"

// Packet is one Socket.IO packet. Data is the JSON payload exactly as on the
// wire (binary placeholders included), nil when the packet has none.
type Packet struct {
	Type      Type
	Namespace string
	// HasID reports whether the packet carries an acknowledgement id.
	HasID bool
	ID    uint64
	Data  []byte
	// Attachments are the binary buffers referenced by placeholders in Data.
	Attachments [][]byte
}

// maxAckID keeps ids within JavaScript's exact integer range.
const maxAckID = 1<<53 - 1

// Parse decodes the text form of a packet (the Engine.IO message payload).
// For binary types it returns the header with the declared attachment
// count in want; the caller feeds the attachments (see Decoder). Data
// aliases text.
func Parse(text []byte) (p Packet, want int, err error) {
	return parse(text, nil)
}

// parse is Parse checking payloads with valid (nil: encoding/json).
func parse(text []byte, valid func([]byte) bool) (p Packet, want int, err error) {
	if len(text) == 0 || text[0] < '0' || text[0] > '6' {
		return p, 0, ErrInvalidPacket
	}
	p.Type = Type(text[0] - '0')
	i := 1
	if p.Type.IsBinary() {
		start := i
		for i < len(text) && isDigit(text[i]) {
			i++
		}
		if i == start || i >= len(text) || text[i] != '-' || i-start > 6 {
			return p, 0, ErrInvalidPacket
		}
		want, _ = strconv.Atoi(string(text[start:i]))
		i++
	}
	p.Namespace = MainNamespace
	if i < len(text) && text[i] == '/' {
		start := i
		for i < len(text) && text[i] != ',' {
			i++
		}
		p.Namespace = string(text[start:i])
		if i < len(text) {
			i++ // the comma
		}
	}
	if i < len(text) && isDigit(text[i]) {
		var id uint64
		for i < len(text) && isDigit(text[i]) {
			id = id*10 + uint64(text[i]-'0')
			if id > maxAckID {
				return p, 0, ErrInvalidPacket
			}
			i++
		}
		p.HasID, p.ID = true, id
	}
	if i < len(text) {
		p.Data = text[i:]
	}
	if err := validate(&p, valid); err != nil {
		return p, 0, err
	}
	return p, want, nil
}

// validate checks the payload shape each packet type requires.
func validate(p *Packet, valid func([]byte) bool) error {
	if valid == nil {
		valid = validJSON
	}
	if p.Data != nil && !valid(p.Data) {
		return ErrInvalidPacket
	}
	first := firstNonSpace(p.Data)
	switch p.Type {
	case Connect:
		if p.Data != nil && first != '{' {
			return ErrInvalidPacket
		}
	case Disconnect:
		if p.Data != nil {
			return ErrInvalidPacket
		}
	case ConnectError:
		if p.Data == nil || (first != '{' && first != '"') {
			return ErrInvalidPacket
		}
	case Event, BinaryEvent:
		if first != '[' {
			return ErrInvalidPacket
		}
		// The data is valid JSON and an array: its first element is the
		// event name, a string, when the first thing after '[' is a quote.
		if i := skipSpace(p.Data, skipSpace(p.Data, 0)+1); i >= len(p.Data) || p.Data[i] != '"' {
			return ErrInvalidPacket
		}
	case Ack, BinaryAck:
		if first != '[' || !p.HasID {
			return ErrInvalidPacket
		}
	default:
		return ErrInvalidPacket
	}
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func firstNonSpace(b []byte) byte {
	for _, c := range b {
		if !isSpace(c) {
			return c
		}
	}
	return 0
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// AppendHeader appends the packet's text encoding up to (not including) its
// payload: type, attachment count, namespace and ack id.
func AppendHeader(dst []byte, p *Packet) []byte {
	t := p.Type
	n := len(p.Attachments)
	if n > 0 && (t == Event || t == Ack) {
		t += BinaryEvent - Event // EVENT→BINARY_EVENT, ACK→BINARY_ACK
	}
	dst = append(dst, '0'+byte(t))
	if t.IsBinary() {
		dst = strconv.AppendInt(dst, int64(n), 10)
		dst = append(dst, '-')
	}
	if p.Namespace != "" && p.Namespace != MainNamespace {
		dst = append(dst, p.Namespace...)
		dst = append(dst, ',')
	}
	if p.HasID {
		dst = strconv.AppendUint(dst, p.ID, 10)
	}
	return dst
}

// Append appends the packet's full text encoding. Attachments are not
// included: they travel as separate binary messages after the text.
func Append(dst []byte, p *Packet) []byte {
	dst = AppendHeader(dst, p)
	return append(dst, p.Data...)
}

// Decoder reassembles packets whose binary attachments arrive as separate
// messages. The zero value is ready to use with the default limits.
type Decoder struct {
	// MaxAttachments bounds the attachment count a packet may declare
	// (default DefaultMaxAttachments).
	MaxAttachments int
	// MaxBytes, when positive, bounds the bytes of one packet's
	// attachments together.
	MaxBytes int
	// Valid, when set, replaces json.Valid for checking payloads (see
	// JSONParser).
	Valid func(data []byte) bool

	pending *Packet
	want    int
	size    int
}

// DefaultMaxAttachments is the Decoder's attachment limit when unset.
const DefaultMaxAttachments = 256

// ErrUnexpectedBinary reports a binary message that no packet awaits.
var ErrUnexpectedBinary = errors.New("socketio: binary message without a pending BINARY packet")

// ErrTooManyAttachments reports a packet beyond the Decoder's limits.
var ErrTooManyAttachments = errors.New("socketio: packet declares too many attachments or bytes")

// Add feeds one Engine.IO message. It returns the completed packet, or nil
// while attachments are still awaited. A text message while attachments are
// awaited, or a binary one when none are, is an error. The returned packet's
// Data aliases the text message; attachments are kept as given.
func (d *Decoder) Add(data []byte, binary bool) (*Packet, error) {
	if binary {
		if d.pending == nil {
			return nil, ErrUnexpectedBinary
		}
		d.size += len(data)
		if d.MaxBytes > 0 && d.size > d.MaxBytes {
			d.Reset()
			return nil, ErrTooManyAttachments
		}
		d.pending.Attachments = append(d.pending.Attachments, data)
		if len(d.pending.Attachments) < d.want {
			return nil, nil
		}
		p := d.pending
		d.Reset()
		if err := checkPlaceholders(p); err != nil {
			return nil, err
		}
		return p, nil
	}
	if d.pending != nil {
		d.Reset()
		return nil, fmt.Errorf("%w: text message while %d attachments are awaited", ErrInvalidPacket, d.want)
	}
	p, want, err := parse(data, d.Valid)
	if err != nil {
		return nil, err
	}
	if !p.Type.IsBinary() {
		return &p, nil
	}
	limit := d.MaxAttachments
	if limit <= 0 {
		limit = DefaultMaxAttachments
	}
	if want > limit {
		return nil, ErrTooManyAttachments
	}
	if want == 0 {
		if err := checkPlaceholders(&p); err != nil {
			return nil, err
		}
		return &p, nil
	}
	d.pending, d.want, d.size = &p, want, 0
	p.Attachments = make([][]byte, 0, want)
	return nil, nil
}

// Awaiting reports how many attachments the decoder still waits for.
func (d *Decoder) Awaiting() int {
	if d.pending == nil {
		return 0
	}
	return d.want - len(d.pending.Attachments)
}

// Reset drops any partially received packet.
func (d *Decoder) Reset() { d.pending, d.want, d.size = nil, 0, 0 }
