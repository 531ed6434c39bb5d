// Package engineio encodes and decodes Engine.IO protocol v4 packets and
// HTTP long-polling payloads.
//
// Every function here is pure: bytes in, packets out, with no I/O, timers or
// logging, so the server, the client and the tests share one codec and it can
// be fuzzed and benchmarked alone.
package engineio

import (
	"encoding/base64"
	"errors"
	"fmt"
)

// Protocol is the Engine.IO protocol revision this package speaks (the EIO
// query parameter).
const Protocol = 4

// PacketType is the type of an Engine.IO packet.
type PacketType byte

// The Engine.IO packet types.
const (
	Open    PacketType = 0 // handshake, server to client
	Close   PacketType = 1 // the transport may be closed
	Ping    PacketType = 2 // heartbeat probe (and upgrade probe "2probe")
	Pong    PacketType = 3 // heartbeat answer (and upgrade probe "3probe")
	Message PacketType = 4 // application data
	Upgrade PacketType = 5 // completes a transport upgrade
	Noop    PacketType = 6 // no operation; ends a pending poll during upgrade
)

var typeNames = [...]string{"open", "close", "ping", "pong", "message", "upgrade", "noop"}

// String returns the packet type's name as the spec spells it.
func (t PacketType) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("PacketType(%d)", byte(t))
}

// Char returns the type's one-character text encoding ('0'..'6').
func (t PacketType) Char() byte { return '0' + byte(t) }

// RecordSeparator separates packets in a long-polling payload.
const RecordSeparator = 0x1e

// ErrInvalidPacket reports bytes that are not an Engine.IO v4 packet. Peers
// that send one must be disconnected.
var ErrInvalidPacket = errors.New("engineio: invalid packet")

// Packet is one Engine.IO packet. Binary is only meaningful for Message
// packets: their Data is raw bytes rather than UTF-8 text.
type Packet struct {
	Type   PacketType
	Data   []byte
	Binary bool
}

// DecodeFrame decodes one WebSocket frame. A binary frame is always a binary
// message packet; a text frame starts with the packet type digit. Data aliases
// frame.
func DecodeFrame(frame []byte, binary bool) (Packet, error) {
	if binary {
		return Packet{Type: Message, Data: frame, Binary: true}, nil
	}
	return decodeText(frame)
}

func decodeText(b []byte) (Packet, error) {
	if len(b) == 0 {
		return Packet{}, ErrInvalidPacket
	}
	c := b[0]
	if c < '0' || c > '6' {
		return Packet{}, ErrInvalidPacket
	}
	return Packet{Type: PacketType(c - '0'), Data: b[1:]}, nil
}

// AppendText appends the text encoding of a non-binary packet: the type
// digit followed by the data.
func AppendText(dst []byte, t PacketType, data []byte) []byte {
	dst = append(dst, t.Char())
	return append(dst, data...)
}

// DecodePayload splits a long-polling request body into packets and calls fn
// for each, in order. Binary packets ("b" + base64) are decoded into fresh
// buffers; text packets alias body. It stops at the first error, which is
// ErrInvalidPacket for malformed input or whatever fn returned.
func DecodePayload(body []byte, fn func(Packet) error) error {
	if len(body) == 0 {
		return ErrInvalidPacket
	}
	for len(body) > 0 {
		var rec []byte
		i := indexByte(body, RecordSeparator)
		if i < 0 {
			rec, body = body, nil
		} else {
			rec, body = body[:i], body[i+1:]
			if len(body) == 0 {
				// A trailing separator means an empty last record.
				return ErrInvalidPacket
			}
		}
		p, err := decodeRecord(rec)
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

func decodeRecord(rec []byte) (Packet, error) {
	if len(rec) > 0 && rec[0] == 'b' {
		data := make([]byte, base64.StdEncoding.DecodedLen(len(rec)-1))
		n, err := base64.StdEncoding.Decode(data, rec[1:])
		if err != nil {
			return Packet{}, ErrInvalidPacket
		}
		return Packet{Type: Message, Data: data[:n], Binary: true}, nil
	}
	return decodeText(rec)
}

// AppendRecord appends one packet's long-polling encoding (without a
// separator): binary messages as "b" + base64, everything else as text.
func AppendRecord(dst []byte, p Packet) []byte {
	if p.Binary {
		dst = append(dst, 'b')
		return base64.StdEncoding.AppendEncode(dst, p.Data)
	}
	return AppendText(dst, p.Type, p.Data)
}

// AppendPayload appends packets as one long-polling payload.
func AppendPayload(dst []byte, packets []Packet) []byte {
	for i, p := range packets {
		if i > 0 {
			dst = append(dst, RecordSeparator)
		}
		dst = AppendRecord(dst, p)
	}
	return dst
}

// RecordLen is the number of bytes p takes in a long-polling payload,
// separator excluded. Clients use it to respect the server's maxPayload.
func RecordLen(p Packet) int {
	if p.Binary {
		return 1 + base64.StdEncoding.EncodedLen(len(p.Data))
	}
	return 1 + len(p.Data)
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
