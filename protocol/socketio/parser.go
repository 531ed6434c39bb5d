package socketio

import "encoding/json"

// Message is one Engine.IO message payload a Parser produces or consumes:
// text (without the Engine.IO type digit), or binary when Binary is set.
type Message struct {
	Data   []byte
	Binary bool
}

// Parser is a Socket.IO serializer: it turns packets into Engine.IO
// messages and back (socket.io's "parser" option, python-socketio's
// "serializer"). Both ends of a connection must use compatible parsers.
//
// Whatever the wire format, packets keep one in-memory form (see Packet):
// Data is JSON and binary values travel as attachments, so Args work the
// same with every parser. Implementations must be safe for concurrent use;
// the decoders they return are used by one connection at a time.
type Parser interface {
	// Encode returns the messages carrying p, in order. The caller may send
	// the same messages to many connections (a broadcast is encoded once),
	// so neither side may modify them afterwards.
	Encode(p *Packet) ([]Message, error)
	// NewDecoder returns a decoder for one connection's incoming messages.
	NewDecoder(limits Limits) PacketDecoder
}

// Limits bound what a PacketDecoder accepts. Zero fields take the
// decoder's defaults.
type Limits struct {
	// MaxAttachments bounds the binary values of one packet (default
	// DefaultMaxAttachments).
	MaxAttachments int
	// MaxBytes, when positive, bounds the bytes of one packet's binary
	// values together.
	MaxBytes int
}

// PacketDecoder reassembles packets from one connection's messages.
// *Decoder is the default parser's.
type PacketDecoder interface {
	// Add feeds one message. It returns the completed packet, or nil while
	// more messages are awaited. An error means the peer broke the
	// protocol: the connection should be closed.
	Add(data []byte, binary bool) (*Packet, error)
	// Reset drops any partially received packet.
	Reset()
}

// JSONCodec marshals application values to JSON and back: python-socketio's
// "json" option, to plug in a faster or stricter JSON library. Marshal must
// return valid JSON. Implementations must be safe for concurrent use.
//
// A codec that also has a method Valid(data []byte) bool lets JSONParser
// check incoming payloads with it instead of encoding/json.
type JSONCodec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// StdJSON is the JSONCodec of encoding/json, the default.
type StdJSON struct{}

// Marshal is json.Marshal.
func (StdJSON) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal is json.Unmarshal.
func (StdJSON) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// Valid is json.Valid.
func (StdJSON) Valid(data []byte) bool { return json.Valid(data) }

// JSONParser is the default Socket.IO parser: a text message per packet,
// followed by one binary message per attachment.
type JSONParser struct {
	// JSON, when it has a Valid method (see JSONCodec), checks incoming
	// payloads. Application values are marshaled by whoever builds the
	// packets (NewEventWith, Args.WithJSON): servers and clients pass
	// them the same codec.
	JSON JSONCodec
}

// Encode returns the packet's text message and its attachments.
func (JSONParser) Encode(p *Packet) ([]Message, error) {
	out := make([]Message, 1, 1+len(p.Attachments))
	out[0] = Message{Data: Append(make([]byte, 0, len(p.Data)+len(p.Namespace)+24), p)}
	for _, a := range p.Attachments {
		out = append(out, Message{Data: a, Binary: true})
	}
	return out, nil
}

// NewDecoder returns a *Decoder with limits.
func (j JSONParser) NewDecoder(limits Limits) PacketDecoder {
	d := &Decoder{MaxAttachments: limits.MaxAttachments, MaxBytes: limits.MaxBytes}
	if v, ok := j.JSON.(interface{ Valid([]byte) bool }); ok {
		if _, std := j.JSON.(StdJSON); !std {
			d.Valid = v.Valid
		}
	}
	return d
}

// ParserOrDefault returns p, or JSONParser{JSON: codec} when p is nil.
func ParserOrDefault(p Parser, codec JSONCodec) Parser {
	if p == nil {
		return JSONParser{JSON: codec}
	}
	return p
}
