// Package wire is the byte format of siogate's cluster protocol: channel
// names, broadcast messages, requests and responses. The cluster adapter
// (package adapter) and the emitter both speak it through this package, so
// a program that only emits depends on no broker module.
//
// The format is the classic one of Node's @socket.io/redis-adapter 8.x and
// @socket.io/redis-emitter 5.x, so siogate nodes, Node servers and emitters
// share one cluster:
//
//   - broadcasts: msgpack [uid, packet, opts] on "prefix#nsp#" (or
//     "prefix#nsp#room#" from Node publishers targeting one room);
//   - requests on "prefix-request#nsp#", responses on "prefix-response#nsp#"
//     (or "prefix-response#nsp#uid#"): JSON, except the broadcast-with-ack
//     request and the ack responses, which are msgpack (a receiver tells
//     them apart by a leading '{').
//
// siogate adds two request types (heartbeat and close) that Node ignores,
// used to count nodes on brokers that cannot count subscribers, and a few
// JSON fields Node ignores (the responder's uid, fetch answers in parts).
// Node's newer ClusterAdapterWithHeartbeat has the same three messages
// (INITIAL_HEARTBEAT, HEARTBEAT, ADAPTER_CLOSE) in another envelope whose
// type numbers (1, 2, 13) mean other requests in the classic one, so they
// cannot travel as they are here; the responder's uid is named "uid" as in
// that envelope.
package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/siogate/siogate/protocol/socketio"
	"github.com/vmihailenco/msgpack/v5"
)

// Request and response types on the wire.
const (
	TypeSockets          = 0
	TypeAllRooms         = 1
	TypeRemoteJoin       = 2
	TypeRemoteLeave      = 3
	TypeRemoteDisconnect = 4
	TypeRemoteFetch      = 5
	TypeServerSideEmit   = 6
	TypeBroadcast        = 7
	TypeClientCount      = 8
	TypeBroadcastAck     = 9
	TypeHeartbeat        = 100 // siogate: a node is alive (data "init" asks others to answer)
	TypeNodeClose        = 101 // siogate: a node is leaving
)

// EmitterUID is the uid Node's redis-emitter (and siogate's emitter) put in
// their messages: never a node's, so every node applies them.
const EmitterUID = "emitter"

// Channels names a namespace's cluster channels under a prefix.
type Channels struct {
	Broadcast string // prefix#nsp#
	Request   string // prefix-request#nsp#
	Response  string // prefix-response#nsp#
}

// ChannelsFor returns the channels of namespace nsp under prefix.
func ChannelsFor(prefix, nsp string) Channels {
	return Channels{
		Broadcast: prefix + "#" + nsp + "#",
		Request:   prefix + "-request#" + nsp + "#",
		Response:  prefix + "-response#" + nsp + "#",
	}
}

// ResponseFor is the response channel addressed to one node.
func (c Channels) ResponseFor(uid string) string { return c.Response + uid + "#" }

// Opts are broadcast options as they travel.
type Opts struct {
	Rooms  []string       `json:"rooms" msgpack:"rooms"`
	Except []string       `json:"except" msgpack:"except"`
	Flags  map[string]any `json:"flags,omitempty" msgpack:"flags"` // Node always sends flags in msgpack
}

// NewOpts returns the options selecting rooms minus except, with the
// volatile flag when set. Compression is on unless said otherwise, as in
// Node: the compress flag travels only as false (Node sends flags {} for
// a plain emit, and reads a missing compress as true).
func NewOpts(rooms, except []string, volatile, compress bool) Opts {
	o := Opts{Rooms: NonNil(rooms), Except: NonNil(except), Flags: map[string]any{}}
	if volatile {
		o.Flags["volatile"] = true
	}
	if !compress {
		o.Flags["compress"] = false
	}
	return o
}

// Compress reports whether the options allow compression: unless the
// compress flag is false.
func (o Opts) Compress() bool {
	v, ok := o.Flags["compress"].(bool)
	return !ok || v
}

// Flag reports whether a boolean flag is set.
func (o Opts) Flag(name string) bool {
	v, _ := o.Flags[name].(bool)
	return v
}

// Timeout returns the broadcast's ack timeout flag, if any.
func (o Opts) Timeout() time.Duration {
	switch ms := normalizeValue(o.Flags["timeout"]).(type) {
	case int64:
		return time.Duration(ms) * time.Millisecond
	case float64:
		return time.Duration(ms * float64(time.Millisecond))
	}
	return 0
}

// NonNil returns s, or an empty slice for nil (Node expects arrays).
func NonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Packet is a Socket.IO packet as it travels between nodes: its data is
// [event, ...args] with binary inline.
type Packet struct {
	Type int    `msgpack:"type"`
	Data []any  `msgpack:"data"`
	Nsp  string `msgpack:"nsp"`
}

// PacketFrom converts an EVENT packet for the wire.
func PacketFrom(p *socketio.Packet) (Packet, error) {
	args, err := socketio.ParseArgs(p.Data, p.Attachments)
	if err != nil {
		return Packet{}, err
	}
	data, err := args.Generic()
	if err != nil {
		return Packet{}, err
	}
	return Packet{Type: int(socketio.Event), Data: data, Nsp: p.Namespace}, nil
}

// Decode converts a wire packet back into a Socket.IO EVENT packet.
func (w Packet) Decode() (socketio.Packet, error) {
	nsp := w.Nsp
	if nsp == "" {
		nsp = socketio.MainNamespace
	}
	return socketio.PacketFromGeneric(nsp, w.Data)
}

// EncodeBroadcast encodes the broadcast message [uid, packet, opts].
func EncodeBroadcast(uid string, p Packet, o Opts) ([]byte, error) {
	return marshalMsgpack([]any{uid, p, o})
}

// BroadcastUID reads only the sender's uid of a broadcast message, so that
// a node skips its own echoes without decoding the packet.
func BroadcastUID(data []byte) (string, error) {
	dec := msgpack.NewDecoder(bytes.NewReader(data))
	n, err := dec.DecodeArrayLen()
	if err != nil || n < 3 {
		return "", fmt.Errorf("wire: bad broadcast message (%d parts): %v", n, err)
	}
	uid, err := dec.DecodeString()
	if err != nil {
		return "", fmt.Errorf("wire: bad broadcast uid: %w", err)
	}
	return uid, nil
}

// DecodeBroadcast decodes a broadcast message.
func DecodeBroadcast(data []byte) (uid string, p Packet, o Opts, err error) {
	uid, p, o, _, err = DecodeBroadcastSeq(data)
	return uid, p, o, err
}

// DecodeBroadcastSeq decodes a broadcast message and its sender's
// sequence number (0 when it has none: Node's publishers and emitters).
func DecodeBroadcastSeq(data []byte) (uid string, p Packet, o Opts, seq uint64, err error) {
	h, err := DecodeBroadcastHead(data)
	if err != nil {
		return "", p, o, 0, err
	}
	if p, err = h.Packet(); err != nil {
		return "", p, o, 0, err
	}
	return h.UID, p, h.Opts, h.Seq, nil
}

// BroadcastHead is a broadcast message read but for its packet, so that
// a receiver can drop its own echoes, the copies it already had and the
// broadcasts for rooms with no socket of its own before paying for the
// packet's decoding.
type BroadcastHead struct {
	// UID is the sender's.
	UID string
	// Opts selects the receiving sockets.
	Opts Opts
	// Seq is the sender's sequence number (0 when it has none).
	Seq    uint64
	packet []byte // the packet's msgpack bytes, within the message
}

// DecodeBroadcastHead reads a broadcast message [uid, packet, opts, seq?]
// but for its packet, which it only checks for well-formedness: Packet
// decodes it.
func DecodeBroadcastHead(data []byte) (BroadcastHead, error) {
	var h BroadcastHead
	var n, i int
	switch {
	case len(data) > 0 && data[0] >= 0x90 && data[0] <= 0x9f:
		n, i = int(data[0]&0x0f), 1
	case len(data) > 2 && data[0] == 0xdc:
		n, i = int(binary.BigEndian.Uint16(data[1:])), 3
	case len(data) > 4 && data[0] == 0xdd:
		n, i = int(binary.BigEndian.Uint32(data[1:])), 5
	}
	if n < 3 {
		return h, fmt.Errorf("wire: bad broadcast message (%d parts)", n)
	}
	var parts [4][]byte // uid, packet, opts, seq
	for k := range min(n, len(parts)) {
		j, ok := msgpackSkip(data, i, 0)
		if !ok {
			return h, fmt.Errorf("wire: bad broadcast message (part %d)", k)
		}
		parts[k], i = data[i:j], j
	}
	var err error
	if h.UID, err = msgpackString(parts[0]); err != nil {
		return h, fmt.Errorf("wire: bad broadcast uid: %w", err)
	}
	if h.Opts, err = decodeOpts(parts[2]); err != nil {
		return h, fmt.Errorf("wire: bad broadcast options: %w", err)
	}
	if raw := parts[3]; len(raw) == 9 && raw[0] == 0xcf { // as StampBroadcast writes it
		h.Seq = binary.BigEndian.Uint64(raw[1:])
	} else if len(raw) > 0 {
		h.Seq, _ = unmarshal[uint64](raw) // not a number: no sequence
	}
	h.packet = parts[1]
	return h, nil
}

// Packet decodes the head's packet.
func (h BroadcastHead) Packet() (Packet, error) {
	var p Packet
	if err := Unmarshal(h.packet, &p); err != nil {
		return p, fmt.Errorf("wire: bad broadcast packet: %w", err)
	}
	normalize(p.Data)
	return p, nil
}

// msgpackString reads one msgpack value that is a string (or nil, read as
// "").
func msgpackString(b []byte) (string, error) {
	if len(b) > 0 {
		switch c := b[0]; {
		case c >= 0xa0 && c <= 0xbf:
			return string(b[1:]), nil
		case c == 0xd9 && len(b) >= 2:
			return string(b[2:]), nil
		case c == 0xda && len(b) >= 3:
			return string(b[3:]), nil
		case c == 0xdb && len(b) >= 5:
			return string(b[5:]), nil
		}
	}
	var s string
	err := Unmarshal(b, &s)
	return s, err
}

// StampBroadcast appends the sender's sequence number to the broadcast
// message data as a fourth element, [uid, packet, opts, seq] (Node's
// receivers read the first three), and returns it. Receivers that see a
// sequence number they already had from the same uid drop the message, so
// a node may send a message again after a broker outage without doubling
// it. data is changed in place (its spare capacity is used when there is
// some): the caller gives it up. Data that is not a three-element array is
// returned as it is.
func StampBroadcast(data []byte, seq uint64) []byte {
	if len(data) == 0 || data[0] != 0x93 {
		return data
	}
	data[0] = 0x94
	return appendUint(data, seq)
}

// StampRequest adds the sender's sequence number to the request data as
// the field "seq" (ignored by Node), as StampBroadcast does for
// broadcasts, in place. Data in neither of the request encodings is
// returned as it is.
func StampRequest(data []byte, seq uint64) []byte {
	switch {
	case len(data) > 1 && data[0] == '{' && data[len(data)-1] == '}':
		if len(data) > 2 {
			data[len(data)-1] = ','
		} else {
			data = data[:1]
		}
		data = append(data, `"seq":`...)
		data = strconv.AppendUint(data, seq, 10)
		return append(data, '}')
	case len(data) > 0 && data[0] >= 0x80 && data[0] < 0x8f: // fixmap of up to 14 fields
		data[0]++
		data = append(data, 0xa3, 's', 'e', 'q')
		return appendUint(data, seq)
	}
	return data
}

// appendUint appends seq as a msgpack uint 64.
func appendUint(b []byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(b, 0xcf), seq)
}

// Request is every request shape; JSON field order follows Node's.
type Request struct {
	UID       string          `json:"uid,omitempty" msgpack:"uid,omitempty"`
	RequestID string          `json:"requestId,omitempty" msgpack:"requestId,omitempty"`
	Type      int             `json:"type" msgpack:"type"`
	Packet    *Packet         `json:"-" msgpack:"packet,omitempty"` // before opts, as Node's
	Opts      *Opts           `json:"opts,omitempty" msgpack:"opts,omitempty"`
	Rooms     []string        `json:"rooms,omitempty" msgpack:"-"`
	Close     *bool           `json:"close,omitempty" msgpack:"-"` // always set on type 4, as Node's
	Data      json.RawMessage `json:"data,omitempty" msgpack:"-"`
	// Parts, on a fetch request, tells siogate responders that the
	// requester takes the answer in several parts (Node's requesters
	// count one response per node and never set it).
	Parts bool `json:"parts,omitempty" msgpack:"-"`
	// Named asks siogate responders to put their uid in the answer, so
	// that a requester on a broker that counts subscribers (Redis) can
	// tell which node has not answered yet, and stop waiting for one that
	// left. Node's requesters never set it, and get Node's shape.
	Named bool `json:"named,omitempty" msgpack:"-"`
	// Wait tells siogate responders how long, in milliseconds from when
	// the request was sent, the requester waits for answers: an answer
	// still queued past that is dropped, and none sooner (an answer in
	// parts is lost whole with any one part). Zero (Node's requesters):
	// the responder's own request timeout.
	Wait int64 `json:"wait,omitempty" msgpack:"-"`
	// Seq is the sender's sequence number (see StampRequest); zero when
	// the sender numbers nothing (Node, emitters).
	Seq uint64 `json:"seq,omitempty" msgpack:"seq,omitempty"`
	// Legacy single-socket forms (answered, never sent).
	SID  string `json:"sid,omitempty" msgpack:"-"`
	Room string `json:"room,omitempty" msgpack:"-"`
}

// Response is every response shape.
type Response struct {
	Type        int             `json:"type,omitempty" msgpack:"type"`
	RequestID   string          `json:"requestId" msgpack:"requestId"`
	Sockets     json.RawMessage `json:"sockets,omitempty" msgpack:"-"`
	Rooms       []string        `json:"rooms,omitempty" msgpack:"-"`
	ClientCount *int            `json:"clientCount,omitempty" msgpack:"-"`
	Data        json.RawMessage `json:"data,omitempty" msgpack:"-"`
	Packet      any             `json:"-" msgpack:"packet"`
	// UID is the responder's uid. siogate responders set it on brokers
	// that count nodes by heartbeat and on answers in parts; Node's classic
	// adapter never does.
	UID string `json:"uid,omitempty" msgpack:"uid,omitempty"`
	// Part and Parts number the parts of a fetch answer sent in several
	// messages: part i of n, from 1. Zero means a single message.
	Part  int `json:"part,omitempty" msgpack:"-"`
	Parts int `json:"parts,omitempty" msgpack:"-"`
}

// EncodeRequest encodes a request: msgpack for a broadcast with acks, JSON
// otherwise.
func EncodeRequest(r *Request) ([]byte, error) {
	if r.Type == TypeBroadcast {
		return marshalMsgpack(r)
	}
	return json.Marshal(r)
}

// DecodeRequest decodes a request of either encoding.
func DecodeRequest(data []byte) (*Request, error) {
	r := new(Request)
	var err error
	if len(data) > 0 && data[0] == '{' {
		err = json.Unmarshal(data, r)
	} else {
		err = Unmarshal(data, r)
		if err == nil && r.Packet != nil {
			normalize(r.Packet.Data)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("wire: bad request: %w", err)
	}
	return r, nil
}

// EncodeResponse encodes a response: msgpack for an ack, JSON otherwise.
func EncodeResponse(r *Response) ([]byte, error) {
	if r.Type == TypeBroadcastAck {
		return marshalMsgpack(r)
	}
	return json.Marshal(r)
}

// DecodeResponse decodes a response of either encoding.
func DecodeResponse(data []byte) (*Response, error) {
	r := new(Response)
	var err error
	if len(data) > 0 && data[0] == '{' {
		err = json.Unmarshal(data, r)
	} else {
		err = Unmarshal(data, r)
		r.Packet = normalizeValue(r.Packet)
	}
	if err != nil {
		return nil, fmt.Errorf("wire: bad response: %w", err)
	}
	return r, nil
}

// marshalMsgpack encodes like notepack: compact integers, string-keyed maps.
// Unmarshal decodes msgpack data into v as msgpack.Unmarshal does, but
// returns an error where the decoder panics: it does on some malformed
// input (a map giving the same key twice, the second value decoded into
// the first). Bytes from a broker must never crash a node.
func Unmarshal(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("wire: malformed msgpack: %v", r)
		}
	}()
	return msgpack.Unmarshal(data, v)
}

func marshalMsgpack(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	enc.SetCustomStructTag("msgpack")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// normalize turns msgpack's decoded integer types into int64 and
// map[string]any keys, in place.
func normalize(data []any) {
	for i, v := range data {
		data[i] = normalizeValue(v)
	}
}

func normalizeValue(v any) any {
	switch t := v.(type) {
	case int8:
		return int64(t)
	case int16:
		return int64(t)
	case int32:
		return int64(t)
	case uint8:
		return int64(t)
	case uint16:
		return int64(t)
	case uint32:
		return int64(t)
	case uint64:
		if t <= 1<<63-1 {
			return int64(t)
		}
		return float64(t)
	case float32:
		return float64(t)
	case time.Time:
		// A JS Date travels as a timestamp; Node's receivers turn it back
		// into a Date, which JSON.stringify writes as toISOString does.
		return t.UTC().Format("2006-01-02T15:04:05.000Z")
	case []any:
		normalize(t)
	case map[string]any:
		for k, e := range t {
			t[k] = normalizeValue(e)
		}
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[fmt.Sprint(k)] = normalizeValue(e)
		}
		return m
	}
	return v
}

// ErrNoEvent reports a server-side emit without an event name.
var ErrNoEvent = errors.New("wire: server-side emit without an event name")

// SplitEvent reads [event, ...args] from a server-side emit request.
func SplitEvent(data json.RawMessage) (string, socketio.Args, error) {
	if len(data) == 0 {
		return "", socketio.Args{}, ErrNoEvent
	}
	if !json.Valid(data) {
		return "", socketio.Args{}, socketio.ErrInvalidPacket
	}
	p := socketio.Packet{Type: socketio.Event, Data: data}
	return socketio.EventName(&p)
}

// The fire-and-forget requests an emitter publishes on the request
// channel, as Node's @socket.io/redis-emitter does (no request id, so
// every node applies them and none answers).

// EncodeSocketsJoin encodes "put the selected sockets into rooms".
func EncodeSocketsJoin(opts Opts, rooms []string) ([]byte, error) {
	return EncodeRequest(&Request{Type: TypeRemoteJoin, Opts: &opts, Rooms: NonNil(rooms)})
}

// EncodeSocketsLeave encodes "take the selected sockets out of rooms".
func EncodeSocketsLeave(opts Opts, rooms []string) ([]byte, error) {
	return EncodeRequest(&Request{Type: TypeRemoteLeave, Opts: &opts, Rooms: NonNil(rooms)})
}

// EncodeDisconnectSockets encodes "disconnect the selected sockets".
func EncodeDisconnectSockets(opts Opts, close bool) ([]byte, error) {
	return EncodeRequest(&Request{Type: TypeRemoteDisconnect, Opts: &opts, Close: &close})
}

// EncodeServerSideEmit encodes a server-side event from uid, without ack.
func EncodeServerSideEmit(uid, event string, args []any) ([]byte, error) {
	data, _, err := socketio.AppendEvent(nil, event, args)
	if err != nil {
		return nil, err
	}
	return EncodeRequest(&Request{UID: uid, Type: TypeServerSideEmit, Data: data})
}
