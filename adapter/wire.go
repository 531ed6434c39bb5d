package adapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/siogate/siogate/protocol/socketio"
	"github.com/vmihailenco/msgpack/v5"
)

// The cluster protocol is the classic one of Node's @socket.io/redis-adapter
// 8.x and @socket.io/redis-emitter 5.x, so siogate nodes, Node servers and
// emitters share one cluster:
//
//   - broadcasts: msgpack [uid, packet, opts] on "prefix#nsp#" (or
//     "prefix#nsp#room#" from Node publishers targeting one room);
//   - requests on "prefix-request#nsp#", responses on "prefix-response#nsp#"
//     (or "prefix-response#nsp#uid#"): JSON, except the broadcast-with-ack
//     request and the ack responses, which are msgpack (a receiver tells
//     them apart by a leading '{').
//
// siogate adds two request types (heartbeat and close) that Node ignores,
// used to count nodes on brokers that cannot count subscribers.

// Request and response types on the wire.
const (
	typeSockets          = 0
	typeAllRooms         = 1
	typeRemoteJoin       = 2
	typeRemoteLeave      = 3
	typeRemoteDisconnect = 4
	typeRemoteFetch      = 5
	typeServerSideEmit   = 6
	typeBroadcast        = 7
	typeClientCount      = 8
	typeBroadcastAck     = 9
	typeHeartbeat        = 100 // siogate: a node is alive (data "init" asks others to answer)
	typeNodeClose        = 101 // siogate: a node is leaving
)

// EmitterUID is the uid Node's redis-emitter (and siogate's emitter) put in
// their broadcasts: never a node's, so every node delivers them.
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

// WireOpts are broadcast options as they travel.
type WireOpts struct {
	Rooms  []string       `json:"rooms" msgpack:"rooms"`
	Except []string       `json:"except" msgpack:"except"`
	Flags  map[string]any `json:"flags,omitempty" msgpack:"flags"` // Node always sends flags in msgpack
}

// WirePacket is a Socket.IO packet as it travels between nodes: its data is
// [event, ...args] with binary inline.
type WirePacket struct {
	Type int    `msgpack:"type"`
	Data []any  `msgpack:"data"`
	Nsp  string `msgpack:"nsp"`
}

// ToWireOpts converts broadcast options for the wire.
func ToWireOpts(o BroadcastOptions) WireOpts {
	w := WireOpts{Rooms: nonNil(o.Rooms), Except: nonNil(o.Except), Flags: map[string]any{}}
	if o.Flags.Volatile {
		w.Flags["volatile"] = true
	}
	if o.Flags.Compress {
		w.Flags["compress"] = true
	}
	return w
}

// Options converts wire options back.
func (w WireOpts) Options() BroadcastOptions {
	o := BroadcastOptions{Rooms: w.Rooms, Except: w.Except}
	if v, _ := w.Flags["volatile"].(bool); v {
		o.Flags.Volatile = true
	}
	if v, _ := w.Flags["compress"].(bool); v {
		o.Flags.Compress = true
	}
	return o
}

// Timeout returns the broadcast's ack timeout flag, if any.
func (w WireOpts) Timeout() time.Duration {
	switch ms := normalizeValue(w.Flags["timeout"]).(type) {
	case int64:
		return time.Duration(ms) * time.Millisecond
	case float64:
		return time.Duration(ms * float64(time.Millisecond))
	}
	return 0
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ToWirePacket converts an EVENT packet for the wire.
func ToWirePacket(p *socketio.Packet) (WirePacket, error) {
	args, err := socketio.ParseArgs(p.Data, p.Attachments)
	if err != nil {
		return WirePacket{}, err
	}
	data, err := args.Generic()
	if err != nil {
		return WirePacket{}, err
	}
	return WirePacket{Type: int(socketio.Event), Data: data, Nsp: p.Namespace}, nil
}

// Packet converts a wire packet back into a Socket.IO EVENT packet.
func (w WirePacket) Packet() (socketio.Packet, error) {
	nsp := w.Nsp
	if nsp == "" {
		nsp = socketio.MainNamespace
	}
	return socketio.PacketFromGeneric(nsp, w.Data)
}

// EncodeBroadcast encodes the broadcast message [uid, packet, opts].
func EncodeBroadcast(uid string, p WirePacket, o WireOpts) ([]byte, error) {
	return marshalMsgpack([]any{uid, p, o})
}

// DecodeBroadcast decodes a broadcast message.
func DecodeBroadcast(data []byte) (uid string, p WirePacket, o WireOpts, err error) {
	var parts []msgpack.RawMessage
	if err = msgpack.Unmarshal(data, &parts); err != nil || len(parts) < 3 {
		return "", p, o, fmt.Errorf("adapter: bad broadcast message: %v", err)
	}
	if err = msgpack.Unmarshal(parts[0], &uid); err != nil {
		return "", p, o, fmt.Errorf("adapter: bad broadcast uid: %w", err)
	}
	if err = msgpack.Unmarshal(parts[1], &p); err != nil {
		return "", p, o, fmt.Errorf("adapter: bad broadcast packet: %w", err)
	}
	if err = msgpack.Unmarshal(parts[2], &o); err != nil {
		return "", p, o, fmt.Errorf("adapter: bad broadcast options: %w", err)
	}
	normalize(p.Data)
	return uid, p, o, nil
}

// wireRequest is every request shape; JSON field order follows Node's.
type wireRequest struct {
	UID       string          `json:"uid,omitempty" msgpack:"uid,omitempty"`
	RequestID string          `json:"requestId,omitempty" msgpack:"requestId,omitempty"`
	Type      int             `json:"type" msgpack:"type"`
	Packet    *WirePacket     `json:"-" msgpack:"packet,omitempty"` // before opts, as Node's
	Opts      *WireOpts       `json:"opts,omitempty" msgpack:"opts,omitempty"`
	Rooms     []string        `json:"rooms,omitempty" msgpack:"-"`
	Close     *bool           `json:"close,omitempty" msgpack:"-"` // always set on type 4, as Node's
	Data      json.RawMessage `json:"data,omitempty" msgpack:"-"`
	// Legacy single-socket forms (answered, never sent).
	SID  string `json:"sid,omitempty" msgpack:"-"`
	Room string `json:"room,omitempty" msgpack:"-"`
}

// wireResponse is every response shape.
type wireResponse struct {
	Type        int             `json:"type,omitempty" msgpack:"type"`
	RequestID   string          `json:"requestId" msgpack:"requestId"`
	Sockets     json.RawMessage `json:"sockets,omitempty" msgpack:"-"`
	Rooms       []string        `json:"rooms,omitempty" msgpack:"-"`
	ClientCount *int            `json:"clientCount,omitempty" msgpack:"-"`
	Data        json.RawMessage `json:"data,omitempty" msgpack:"-"`
	Packet      any             `json:"-" msgpack:"packet"`
}

func encodeRequest(r *wireRequest) ([]byte, error) {
	if r.Type == typeBroadcast {
		return marshalMsgpack(r)
	}
	return json.Marshal(r)
}

func decodeRequest(data []byte) (*wireRequest, error) {
	r := new(wireRequest)
	var err error
	if len(data) > 0 && data[0] == '{' {
		err = json.Unmarshal(data, r)
	} else {
		err = msgpack.Unmarshal(data, r)
		if err == nil && r.Packet != nil {
			normalize(r.Packet.Data)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("adapter: bad request: %w", err)
	}
	return r, nil
}

func encodeResponse(r *wireResponse) ([]byte, error) {
	if r.Type == typeBroadcastAck {
		return marshalMsgpack(r)
	}
	return json.Marshal(r)
}

func decodeResponse(data []byte) (*wireResponse, error) {
	r := new(wireResponse)
	var err error
	if len(data) > 0 && data[0] == '{' {
		err = json.Unmarshal(data, r)
	} else {
		err = msgpack.Unmarshal(data, r)
		r.Packet = normalizeValue(r.Packet)
	}
	if err != nil {
		return nil, fmt.Errorf("adapter: bad response: %w", err)
	}
	return r, nil
}

// marshalMsgpack encodes like notepack: compact integers, string-keyed maps.
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

// wireSocket is a socket as fetchSockets answers carry it (Node's shape).
type wireSocket struct {
	ID        string        `json:"id"`
	Handshake wireHandshake `json:"handshake"`
	Rooms     []string      `json:"rooms"`
	Data      any           `json:"data"`
}

type wireHandshake struct {
	Headers map[string]any  `json:"headers"`
	Time    string          `json:"time"`
	Address string          `json:"address"`
	XDomain bool            `json:"xdomain"`
	Secure  bool            `json:"secure"`
	Issued  int64           `json:"issued"`
	URL     string          `json:"url"`
	Query   map[string]any  `json:"query"`
	Auth    json.RawMessage `json:"auth"`
}

func toWireSocket(s SocketInfo) wireSocket {
	h := s.Handshake
	headers := make(map[string]any, len(h.Headers))
	for k, v := range h.Headers {
		headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	query := make(map[string]any, len(h.Query))
	for k, v := range h.Query {
		if len(v) > 0 {
			query[k] = v[0]
		}
	}
	auth := json.RawMessage(h.Auth)
	if len(auth) == 0 {
		auth = json.RawMessage("{}")
	}
	return wireSocket{
		ID: s.ID,
		Handshake: wireHandshake{
			Headers: headers, Time: h.Time.UTC().Format(time.RFC1123), Address: h.Address,
			XDomain: headers["origin"] != nil, Secure: h.Secure, Issued: h.Time.UnixMilli(),
			URL: h.URL, Query: query, Auth: auth,
		},
		Rooms: nonNil(s.Rooms),
		Data:  s.Data,
	}
}

func (w wireSocket) info(nsp string) SocketInfo {
	h := http.Header{}
	for k, v := range w.Handshake.Headers {
		switch t := v.(type) {
		case string:
			h.Set(k, t)
		case []any:
			for _, e := range t {
				h.Add(k, fmt.Sprint(e))
			}
		}
	}
	q := map[string][]string{}
	for k, v := range w.Handshake.Query {
		q[k] = []string{fmt.Sprint(v)}
	}
	return SocketInfo{
		ID:        w.ID,
		Namespace: nsp,
		Rooms:     w.Rooms,
		Data:      w.Data,
		Handshake: Handshake{
			Headers: h, Time: time.UnixMilli(w.Handshake.Issued), Address: w.Handshake.Address,
			Secure: w.Handshake.Secure, URL: w.Handshake.URL, Query: q, Auth: w.Handshake.Auth,
		},
	}
}

var errNoEvent = errors.New("adapter: server-side emit without an event name")

// splitEvent reads [event, ...args] from a serverSideEmit request.
func splitEvent(data json.RawMessage) (string, socketio.Args, error) {
	if len(data) == 0 {
		return "", socketio.Args{}, errNoEvent
	}
	if !json.Valid(data) {
		return "", socketio.Args{}, socketio.ErrInvalidPacket
	}
	p := socketio.Packet{Type: socketio.Event, Data: data}
	return socketio.EventName(&p)
}

// The fire-and-forget requests an emitter publishes on the request
// channel, as Node's @socket.io/redis-emitter does (no uid, no request id,
// so every node applies them).

// EncodeSocketsJoin encodes "put the selected sockets into rooms".
func EncodeSocketsJoin(opts WireOpts, rooms []string) ([]byte, error) {
	return encodeRequest(&wireRequest{Type: typeRemoteJoin, Opts: &opts, Rooms: nonNil(rooms)})
}

// EncodeSocketsLeave encodes "take the selected sockets out of rooms".
func EncodeSocketsLeave(opts WireOpts, rooms []string) ([]byte, error) {
	return encodeRequest(&wireRequest{Type: typeRemoteLeave, Opts: &opts, Rooms: nonNil(rooms)})
}

// EncodeDisconnectSockets encodes "disconnect the selected sockets".
func EncodeDisconnectSockets(opts WireOpts, close bool) ([]byte, error) {
	return encodeRequest(&wireRequest{Type: typeRemoteDisconnect, Opts: &opts, Close: &close})
}

// EncodeServerSideEmit encodes a server-side event from uid, without ack.
func EncodeServerSideEmit(uid, event string, args []any) ([]byte, error) {
	data, _, err := socketio.AppendEvent(nil, event, args)
	if err != nil {
		return nil, err
	}
	return encodeRequest(&wireRequest{UID: uid, Type: typeServerSideEmit, Data: data})
}
