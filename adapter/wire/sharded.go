package wire

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// The sharded layout is the one of Node's sharded Redis adapter
// (@socket.io/redis-adapter createShardedAdapter, on SSUBSCRIBE/SPUBLISH).
// Its messages are socket.io-adapter's ClusterAdapter envelope
// {uid, nsp, type, data}, JSON unless the data holds binary (then
// msgpack), on three kinds of channels:
//
//   - "prefix#nsp#": every request and every broadcast;
//   - "prefix#nsp#uid#": the responses to the node uid;
//   - "prefix#nsp#room#": broadcasts to that single room without acks, in
//     the "dynamic" and "dynamic-private" subscription modes; the nodes
//     with a socket in the room subscribe to it.
//
// Node counts the nodes with PUBSUB SHARDNUMSUB on "prefix#nsp#".

// Mode is the subscription mode of the sharded layout: which single-room
// broadcasts get a channel of their own.
type Mode string

// The subscription modes, as Node names them.
const (
	// ModeStatic: no room channels (two channels per namespace).
	ModeStatic Mode = "static"
	// ModeDynamic: a channel per room that does not look like a socket id
	// (Node's default).
	ModeDynamic Mode = "dynamic"
	// ModeDynamicPrivate: a channel per room, socket ids included.
	ModeDynamicPrivate Mode = "dynamic-private"
)

// ParseMode reads a subscription mode; "" is ModeDynamic.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", ModeDynamic:
		return ModeDynamic, nil
	case ModeStatic, ModeDynamicPrivate:
		return Mode(s), nil
	}
	return "", fmt.Errorf("wire: unknown subscription mode %q (want static, dynamic or dynamic-private)", s)
}

// Layout says how a broker carries the cluster protocol. The zero value is
// the classic layout (package comment); Sharded selects Node's sharded one.
type Layout struct {
	Sharded bool
	Mode    Mode // for Sharded; "" means ModeDynamic
}

// LayoutProvider is implemented by brokers whose channels impose a layout
// (Redis sharded pub/sub). The cluster adapter and the emitter ask their
// broker for it; a broker without it uses the classic layout.
type LayoutProvider interface {
	Layout() Layout
}

// LayoutOf returns the layout v (a broker) imposes, or the classic one.
func LayoutOf(v any) Layout {
	if p, ok := v.(LayoutProvider); ok {
		l := p.Layout()
		if l.Sharded && l.Mode == "" {
			l.Mode = ModeDynamic
		}
		return l
	}
	return Layout{}
}

// ShardedChannel is "prefix#nsp#", the namespace's channel.
func ShardedChannel(prefix, nsp string) string { return prefix + "#" + nsp + "#" }

// ShardedSubChannel is "prefix#nsp#name#": the response channel of node
// name, or the channel of room name.
func ShardedSubChannel(prefix, nsp, name string) string { return prefix + "#" + nsp + "#" + name + "#" }

// ShardedNodesChannel is "prefix#nsp#siogate\x00nodes#", a channel every
// siogate node of the namespace subscribes to in the sharded layout and
// nobody publishes on: PUBSUB SHARDNUMSUB on it counts the siogate nodes,
// while on ShardedChannel it counts Node's too. The difference is the
// number of Node nodes, which do not answer siogate's own requests
// (ClusterRooms). No room can be named so (a NUL byte in a room name).
func ShardedNodesChannel(prefix, nsp string) string {
	return ShardedSubChannel(prefix, nsp, "siogate\x00nodes")
}

// LooksLikeSocketID is Node's test for a private room: 20 characters,
// the length of Socket.IO ids (siogate's included).
func LooksLikeSocketID(room string) bool { return len(room) == 20 }

// RoomChannelFor reports whether a broadcast without acks to exactly
// rooms travels on the room's channel in mode m (Node's rule).
func RoomChannelFor(m Mode, rooms []string) bool {
	if len(rooms) != 1 {
		return false
	}
	switch m {
	case ModeDynamicPrivate:
		return true
	case ModeDynamic, "":
		return !LooksLikeSocketID(rooms[0])
	}
	return false
}

// SubscribeRoom reports whether a node with a local socket in room
// subscribes to the room's channel in mode m. Node subscribes for public
// rooms (private is a local socket's own id); siogate subscribes also to
// any room a publisher could address on its own channel (one that does not
// look like a socket id), so that a publisher's guess never loses a
// message.
func SubscribeRoom(m Mode, room string, private bool) bool {
	switch m {
	case ModeDynamicPrivate:
		return true
	case ModeDynamic, "":
		return !private || !LooksLikeSocketID(room)
	}
	return false
}

// The envelope's message types (socket.io-adapter's MessageType), and
// siogate's two extensions, which Node peers ignore.
const (
	envInitialHeartbeat   = 1
	envHeartbeat          = 2
	envBroadcast          = 3
	envSocketsJoin        = 4
	envSocketsLeave       = 5
	envDisconnectSockets  = 6
	envFetchSockets       = 7
	envFetchResponse      = 8
	envServerSideEmit     = 9
	envServerSideResponse = 10
	envClientCount        = 11
	envBroadcastAck       = 12
	envAdapterClose       = 13
	envAllRooms           = 100 // siogate: ClusterRooms
	envAllRoomsResponse   = 101 // siogate: its answer
)

type envelope struct {
	UID  string         `json:"uid" msgpack:"uid"`
	Nsp  string         `json:"nsp" msgpack:"nsp"`
	Type int            `json:"type" msgpack:"type"`
	Data map[string]any `json:"data,omitempty" msgpack:"data,omitempty"`
}

func envOpts(o Opts) map[string]any {
	flags := o.Flags
	if flags == nil {
		flags = map[string]any{}
	}
	return map[string]any{"rooms": NonNil(o.Rooms), "except": NonNil(o.Except), "flags": flags}
}

func envPacket(p Packet, nsp string) map[string]any {
	if p.Nsp != "" {
		nsp = p.Nsp
	}
	data := p.Data
	if data == nil {
		data = []any{}
	}
	return map[string]any{"type": p.Type, "data": data, "nsp": nsp}
}

// encodeEnvelope encodes JSON, or msgpack when the data holds binary, as
// Node's sharded adapter does.
func encodeEnvelope(e *envelope) ([]byte, error) {
	if hasBinary(e.Data) {
		return marshalMsgpack(e)
	}
	return json.Marshal(e)
}

func hasBinary(v any) bool {
	switch t := v.(type) {
	case []byte:
		return true
	case []any:
		for _, e := range t {
			if hasBinary(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range t {
			if hasBinary(e) {
				return true
			}
		}
	case Packet:
		return hasBinary(t.Data)
	}
	return false
}

// EncodeShardedBroadcast encodes a broadcast without acks from node uid.
func EncodeShardedBroadcast(uid, nsp string, p Packet, o Opts) ([]byte, error) {
	return encodeEnvelope(&envelope{UID: uid, Nsp: nsp, Type: envBroadcast,
		Data: map[string]any{"packet": envPacket(p, nsp), "opts": envOpts(o)}})
}

// EncodeShardedRequest encodes a request (r.UID is the sender).
func EncodeShardedRequest(nsp string, r *Request) ([]byte, error) {
	e := &envelope{UID: r.UID, Nsp: nsp, Data: map[string]any{}}
	if r.RequestID != "" {
		e.Data["requestId"] = r.RequestID
	}
	opts := func() {
		if r.Opts != nil {
			e.Data["opts"] = envOpts(*r.Opts)
		} else {
			e.Data["opts"] = envOpts(Opts{})
		}
	}
	switch r.Type {
	case TypeBroadcast:
		e.Type = envBroadcast
		if r.Packet != nil {
			e.Data["packet"] = envPacket(*r.Packet, nsp)
		}
		opts()
	case TypeRemoteJoin, TypeRemoteLeave:
		e.Type = envSocketsJoin
		if r.Type == TypeRemoteLeave {
			e.Type = envSocketsLeave
		}
		opts()
		e.Data["rooms"] = NonNil(r.Rooms)
	case TypeRemoteDisconnect:
		e.Type = envDisconnectSockets
		opts()
		e.Data["close"] = r.Close != nil && *r.Close
	case TypeRemoteFetch:
		e.Type = envFetchSockets
		opts()
		if r.Parts {
			e.Data["parts"] = true
		}
	case TypeServerSideEmit:
		e.Type = envServerSideEmit
		e.Data["packet"] = r.Data
	case TypeAllRooms:
		e.Type = envAllRooms
	case TypeHeartbeat:
		e.Type = envHeartbeat
		switch string(r.Data) {
		case `"init"`:
			e.Type = envInitialHeartbeat
		case `"reply"`:
			e.Data["reply"] = true
		}
	case TypeNodeClose:
		e.Type = envAdapterClose
	default:
		return nil, fmt.Errorf("wire: request type %d has no sharded form", r.Type)
	}
	if r.Wait > 0 {
		// How long the requester waits for answers (Request.Wait), a
		// siogate extension as "parts" is: Node's sharded adapter reads
		// the data fields it knows by name and ignores this one.
		e.Data["wait"] = r.Wait
	}
	if len(e.Data) == 0 {
		e.Data = nil
	}
	return encodeEnvelope(e)
}

// EncodeShardedResponse encodes a response from node uid.
func EncodeShardedResponse(uid, nsp string, r *Response) ([]byte, error) {
	e := &envelope{UID: uid, Nsp: nsp, Data: map[string]any{"requestId": r.RequestID}}
	switch r.Type {
	case TypeClientCount:
		e.Type = envClientCount
		n := 0
		if r.ClientCount != nil {
			n = *r.ClientCount
		}
		e.Data["clientCount"] = n
	case TypeBroadcastAck:
		e.Type = envBroadcastAck
		e.Data["packet"] = r.Packet
	case TypeServerSideEmit:
		e.Type = envServerSideResponse
		if len(r.Data) > 0 {
			e.Data["packet"] = r.Data
		} else {
			e.Data["packet"] = nil
		}
	case 0:
		if r.Sockets != nil {
			e.Type = envFetchResponse
			e.Data["sockets"] = r.Sockets
			if r.Parts > 0 {
				e.Data["part"], e.Data["parts"] = r.Part, r.Parts
			}
		} else {
			e.Type = envAllRoomsResponse
			e.Data["rooms"] = NonNil(r.Rooms)
		}
	default:
		return nil, fmt.Errorf("wire: response type %d has no sharded form", r.Type)
	}
	return encodeEnvelope(e)
}

// StampSharded adds the sender's sequence number to a message of the
// sharded layout as the envelope's field "seq": {uid, nsp, type, data,
// seq}, in place, as StampRequest does (the envelope is a JSON object, or
// a msgpack map of at most five fields). Node's sharded adapter reads the
// envelope's uid, nsp, type and data by name (socket.io-adapter's
// ClusterAdapter.onMessage and onResponse) and never looks at other
// fields, so it ignores the number; siogate receivers drop a message
// whose number they already had from the same sender on the same
// channel, so a node may send a message again after a broker outage
// without doubling it.
func StampSharded(data []byte, seq uint64) []byte { return StampRequest(data, seq) }

// ShardedMessage is a decoded message of the sharded layout: exactly one
// of a broadcast without acks (Broadcast true), a request or a response.
type ShardedMessage struct {
	// Seq is the sender's sequence number (StampSharded); zero when it
	// has none (Node's senders).
	Seq       uint64
	UID, Nsp  string
	Broadcast bool
	Packet    Packet
	Opts      Opts
	Request   *Request
	Response  *Response
}

// DecodeSharded decodes a message of the sharded layout. Types it does
// not know return a message with neither set and no error.
func DecodeSharded(data []byte) (ShardedMessage, error) {
	var raw any
	var err error
	if len(data) > 0 && data[0] == '{' {
		err = json.Unmarshal(data, &raw)
	} else {
		if !msgpackSane(data) {
			return ShardedMessage{}, fmt.Errorf("wire: bad sharded message: not msgpack, or lengths beyond its %d bytes", len(data))
		}
		dec := msgpack.NewDecoder(bytes.NewReader(data))
		raw, err = dec.DecodeInterface()
		raw = normalizeValue(raw)
	}
	if err != nil {
		return ShardedMessage{}, fmt.Errorf("wire: bad sharded message: %w", err)
	}
	env, ok := raw.(map[string]any)
	if !ok {
		return ShardedMessage{}, fmt.Errorf("wire: bad sharded message: %T, want an object", raw)
	}
	m := ShardedMessage{UID: str(env["uid"]), Nsp: str(env["nsp"])}
	if seq, ok := num(env["seq"]); ok && seq > 0 {
		m.Seq = uint64(seq)
	}
	typ, _ := num(env["type"])
	d, _ := env["data"].(map[string]any)
	if d == nil {
		d = map[string]any{}
	}
	reqID := str(d["requestId"])
	req := func(t int) *Request {
		r := &Request{UID: m.UID, RequestID: reqID, Type: t}
		if o, ok := d["opts"].(map[string]any); ok {
			wo := optsFrom(o)
			r.Opts = &wo
		}
		return r
	}
	switch typ {
	case envBroadcast:
		p, err := packetFrom(d["packet"])
		if err != nil {
			return m, err
		}
		o, _ := d["opts"].(map[string]any)
		if reqID == "" {
			m.Broadcast, m.Packet, m.Opts = true, p, optsFrom(o)
			return m, nil
		}
		m.Request = req(TypeBroadcast)
		m.Request.Packet = &p
	case envSocketsJoin, envSocketsLeave:
		t := TypeRemoteJoin
		if typ == envSocketsLeave {
			t = TypeRemoteLeave
		}
		m.Request = req(t)
		m.Request.Rooms = strs(d["rooms"])
	case envDisconnectSockets:
		m.Request = req(TypeRemoteDisconnect)
		c, _ := d["close"].(bool)
		m.Request.Close = &c
	case envFetchSockets:
		m.Request = req(TypeRemoteFetch)
		m.Request.Parts, _ = d["parts"].(bool)
	case envServerSideEmit:
		m.Request = req(TypeServerSideEmit)
		if m.Request.Data, err = json.Marshal(d["packet"]); err != nil {
			return m, fmt.Errorf("wire: bad server-side emit: %w", err)
		}
	case envAllRooms:
		m.Request = req(TypeAllRooms)
	case envInitialHeartbeat, envHeartbeat:
		m.Request = &Request{UID: m.UID, Type: TypeHeartbeat}
		if typ == envInitialHeartbeat {
			m.Request.Data = json.RawMessage(`"init"`)
		} else if reply, _ := d["reply"].(bool); reply {
			m.Request.Data = json.RawMessage(`"reply"`)
		}
	case envAdapterClose:
		m.Request = &Request{UID: m.UID, Type: TypeNodeClose}
	case envFetchResponse:
		m.Response = &Response{UID: m.UID, RequestID: reqID}
		if m.Response.Sockets, err = json.Marshal(d["sockets"]); err != nil {
			return m, fmt.Errorf("wire: bad fetch answer: %w", err)
		}
		part, _ := num(d["part"])
		parts, _ := num(d["parts"])
		m.Response.Part, m.Response.Parts = int(part), int(parts)
	case envServerSideResponse:
		m.Response = &Response{UID: m.UID, RequestID: reqID, Type: TypeServerSideEmit}
		if m.Response.Data, err = json.Marshal(d["packet"]); err != nil {
			return m, fmt.Errorf("wire: bad server-side answer: %w", err)
		}
	case envClientCount:
		n, _ := num(d["clientCount"])
		c := int(n)
		m.Response = &Response{UID: m.UID, RequestID: reqID, Type: TypeClientCount, ClientCount: &c}
	case envBroadcastAck:
		m.Response = &Response{UID: m.UID, RequestID: reqID, Type: TypeBroadcastAck, Packet: d["packet"]}
	case envAllRoomsResponse:
		m.Response = &Response{UID: m.UID, RequestID: reqID, Rooms: NonNil(strs(d["rooms"]))}
	}
	if w, ok := num(d["wait"]); ok && w > 0 && m.Request != nil && m.Request.RequestID != "" {
		m.Request.Wait = w
	}
	return m, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) (int64, bool) {
	switch t := v.(type) {
	case int64:
		return t, true
	case float64:
		return int64(t), true
	}
	return 0, false
}

func strs(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func optsFrom(o map[string]any) Opts {
	w := Opts{Rooms: strs(o["rooms"]), Except: strs(o["except"])}
	w.Flags, _ = o["flags"].(map[string]any)
	if w.Flags == nil {
		w.Flags = map[string]any{}
	}
	return w
}

func packetFrom(v any) (Packet, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return Packet{}, fmt.Errorf("wire: bad sharded broadcast: packet is %T", v)
	}
	t, _ := num(m["type"])
	data, _ := m["data"].([]any)
	return Packet{Type: int(t), Data: data, Nsp: str(m["nsp"])}, nil
}

// msgpackSane walks msgpack bytes without building values and reports
// whether every declared length fits in the bytes that remain (an array
// or map element takes at least one byte), so that a decoder never
// allocates for a length the message cannot hold.
func msgpackSane(b []byte) bool {
	_, ok := msgpackSkip(b, 0, 0)
	return ok
}

func msgpackSkip(b []byte, i, depth int) (int, bool) {
	if i >= len(b) || depth > 100 {
		return 0, false
	}
	c := b[i]
	i++
	be := func(n int) (int, bool) {
		if i+n > len(b) {
			return 0, false
		}
		v := 0
		for k := 0; k < n; k++ {
			v = v<<8 | int(b[i+k])
		}
		i += n
		return v, v >= 0
	}
	skipBytes := func(n int) (int, bool) {
		if n < 0 || n > len(b)-i {
			return 0, false
		}
		return i + n, true
	}
	items := func(n int) (int, bool) {
		if n < 0 || n > len(b)-i {
			return 0, false
		}
		var ok bool
		for range n {
			if i, ok = msgpackSkip(b, i, depth+1); !ok {
				return 0, false
			}
		}
		return i, true
	}
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return i, true
	case c >= 0x80 && c <= 0x8f:
		return items(2 * int(c&0x0f))
	case c >= 0x90 && c <= 0x9f:
		return items(int(c & 0x0f))
	case c >= 0xa0 && c <= 0xbf:
		return skipBytes(int(c & 0x1f))
	}
	var n int
	var ok bool
	switch c {
	case 0xc4, 0xd9: // bin8, str8
		n, ok = be(1)
	case 0xc5, 0xda:
		n, ok = be(2)
	case 0xc6, 0xdb:
		n, ok = be(4)
	case 0xc7, 0xc8, 0xc9: // ext8/16/32: length, type, data
		if n, ok = be(map[byte]int{0xc7: 1, 0xc8: 2, 0xc9: 4}[c]); ok {
			n++
		}
	case 0xcc, 0xd0, 0xd4:
		n, ok = 1, true
		if c == 0xd4 {
			n = 2
		}
	case 0xcd, 0xd1, 0xd5:
		n, ok = 2, true
		if c == 0xd5 {
			n = 3
		}
	case 0xca, 0xce, 0xd2, 0xd6:
		n, ok = 4, true
		if c == 0xd6 {
			n = 5
		}
	case 0xcb, 0xcf, 0xd3, 0xd7:
		n, ok = 8, true
		if c == 0xd7 {
			n = 9
		}
	case 0xd8:
		n, ok = 17, true
	case 0xdc, 0xdd: // array16, array32
		if n, ok = be(map[byte]int{0xdc: 2, 0xdd: 4}[c]); ok {
			return items(n)
		}
		return 0, false
	case 0xde, 0xdf: // map16, map32
		if n, ok = be(map[byte]int{0xde: 2, 0xdf: 4}[c]); ok {
			return items(2 * n)
		}
		return 0, false
	default:
		return 0, false
	}
	if !ok {
		return 0, false
	}
	return skipBytes(n)
}
