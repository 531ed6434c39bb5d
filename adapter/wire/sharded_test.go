package wire

import (
	"encoding/json"
	"reflect"
	"testing"
)

// Messages as Node's sharded adapter writes them (JSON.stringify of
// socket.io-adapter's ClusterMessage), and what they decode to.
func TestDecodeShardedNodeMessages(t *testing.T) {
	m, err := DecodeSharded([]byte(`{"type":3,"data":{"packet":{"type":2,"data":["hello",1],"nsp":"/"},"opts":{"rooms":["r1"],"except":["x"],"flags":{"volatile":true}}},"uid":"n1","nsp":"/"}`))
	if err != nil || !m.Broadcast || m.UID != "n1" || m.Nsp != "/" || !reflect.DeepEqual(m.Packet.Data, []any{"hello", 1.0}) ||
		!reflect.DeepEqual(m.Opts.Rooms, []string{"r1"}) || !m.Opts.Flag("volatile") {
		t.Errorf("broadcast: %+v, %v", m, err)
	}
	m, err = DecodeSharded([]byte(`{"type":3,"data":{"packet":{"type":2,"data":["ack?"],"nsp":"/"},"requestId":"q1","opts":{"rooms":[],"except":[],"flags":{"timeout":3000}}},"uid":"n1","nsp":"/"}`))
	if err != nil || m.Request == nil || m.Request.Type != TypeBroadcast || m.Request.RequestID != "q1" || m.Request.Opts.Timeout().Milliseconds() != 3000 {
		t.Errorf("broadcast with ack: %+v, %v", m.Request, err)
	}
	m, err = DecodeSharded([]byte(`{"type":9,"data":{"packet":["ping",{"a":1}],"requestId":"q2"},"uid":"n1","nsp":"/"}`))
	if err != nil || m.Request == nil || m.Request.Type != TypeServerSideEmit || string(m.Request.Data) != `["ping",{"a":1}]` {
		t.Errorf("server-side emit: %+v, %v", m.Request, err)
	}
	m, err = DecodeSharded([]byte(`{"type":11,"data":{"requestId":"q1","clientCount":2},"uid":"n2","nsp":"/"}`))
	if err != nil || m.Response == nil || m.Response.Type != TypeClientCount || *m.Response.ClientCount != 2 || m.Response.UID != "n2" {
		t.Errorf("client count: %+v, %v", m.Response, err)
	}
}

// Every request and response siogate sends survives the sharded form.
func TestShardedRoundTrip(t *testing.T) {
	yes := true
	opts := NewOpts([]string{"r"}, []string{"e"}, false, true)
	for _, r := range []*Request{
		{UID: "u", Type: TypeRemoteJoin, Opts: &opts, Rooms: []string{"a"}},
		{UID: "u", Type: TypeRemoteLeave, Opts: &opts, Rooms: []string{"a"}},
		{UID: "u", Type: TypeRemoteDisconnect, Opts: &opts, Close: &yes},
		{UID: "u", RequestID: "q", Type: TypeRemoteFetch, Opts: &opts, Parts: true, Wait: 59_999},
		{UID: "u", RequestID: "q", Type: TypeServerSideEmit, Data: json.RawMessage(`["e",1]`), Wait: 5000},
		{UID: "u", RequestID: "q", Type: TypeAllRooms, Wait: 1},
		{UID: "u", RequestID: "q", Type: TypeBroadcast, Packet: &Packet{Type: 2, Data: []any{"e", []byte{1}}, Nsp: "/"}, Opts: &opts, Wait: 300}, // msgpack
		{UID: "u", Type: TypeHeartbeat, Data: json.RawMessage(`"init"`)},
		{UID: "u", Type: TypeHeartbeat, Data: json.RawMessage(`"reply"`)},
		{UID: "u", Type: TypeNodeClose},
	} {
		data, err := EncodeShardedRequest("/", r)
		if err != nil {
			t.Fatalf("%d: %v", r.Type, err)
		}
		m, err := DecodeSharded(data)
		if err != nil || m.Request == nil {
			t.Fatalf("%d: %+v, %v", r.Type, m, err)
		}
		got := m.Request
		if got.Type != r.Type || got.UID != r.UID || got.RequestID != r.RequestID || string(got.Data) != string(r.Data) ||
			!reflect.DeepEqual(got.Rooms, r.Rooms) || got.Parts != r.Parts || got.Wait != r.Wait || (r.Close != nil) != (got.Close != nil) {
			t.Errorf("%d: %s decodes to %+v", r.Type, data, got)
		}
	}
	n := 3
	for _, r := range []*Response{
		{RequestID: "q", Type: TypeClientCount, ClientCount: &n},
		{RequestID: "q", Type: TypeBroadcastAck, Packet: "ok"},
		{RequestID: "q", Type: TypeServerSideEmit, Data: json.RawMessage(`{"a":1}`)},
		{RequestID: "q", Sockets: json.RawMessage(`[{"id":"s"}]`), Part: 1, Parts: 2},
		{RequestID: "q", Rooms: []string{"a"}},
	} {
		data, err := EncodeShardedResponse("u", "/", r)
		if err != nil {
			t.Fatal(err)
		}
		m, err := DecodeSharded(data)
		if err != nil || m.Response == nil || m.Response.RequestID != "q" || m.Response.Type != r.Type || m.Response.UID != "u" ||
			m.Response.Parts != r.Parts || !reflect.DeepEqual(m.Response.Rooms, r.Rooms) {
			t.Errorf("%s decodes to %+v, %v", data, m.Response, err)
		}
	}
}

func FuzzDecodeSharded(f *testing.F) {
	f.Add([]byte(`{"type":3,"data":{"packet":{"type":2,"data":["a"],"nsp":"/"},"opts":{"rooms":[],"except":[],"flags":{}}},"uid":"n","nsp":"/"}`))
	f.Add([]byte(`{"type":8,"data":{"requestId":"q","sockets":[]},"uid":"n","nsp":"/"}`))
	if b, err := EncodeShardedBroadcast("u", "/", Packet{Type: 2, Data: []any{"b", []byte{1}}}, Opts{}); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeSharded(data)
		if err != nil {
			return
		}
		if m.Broadcast {
			if _, err := EncodeShardedBroadcast(m.UID, m.Nsp, m.Packet, m.Opts); err != nil {
				t.Fatalf("a decoded broadcast does not encode: %v", err)
			}
		}
	})
}

// Every message of the sharded layout carries a sequence number once
// stamped, JSON or msgpack (binary data), and reads the same otherwise.
func TestStampSharded(t *testing.T) {
	opts := NewOpts([]string{"r"}, nil, false, false)
	bc := func(data []any) []byte {
		b, err := EncodeShardedBroadcast("u", "/", Packet{Type: 2, Data: data}, opts)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	req, err := EncodeShardedRequest("/", &Request{UID: "u", Type: TypeNodeClose}) // no data field
	if err != nil {
		t.Fatal(err)
	}
	resp, err := EncodeShardedResponse("u", "/", &Response{RequestID: "q", Rooms: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"json": bc([]any{"e", 1}), "msgpack": bc([]any{"e", []byte{1, 2}}), "request": req, "response": resp} {
		before, err := DecodeSharded(data)
		if err != nil || before.Seq != 0 {
			t.Fatalf("%s: %+v, %v", name, before, err)
		}
		after, err := DecodeSharded(StampSharded(append([]byte(nil), data...), 1<<40+7))
		if err != nil || after.Seq != 1<<40+7 {
			t.Fatalf("%s stamped: seq %d, %v", name, after.Seq, err)
		}
		after.Seq = 0
		if !reflect.DeepEqual(before, after) {
			t.Errorf("%s: stamped reads\n%+v\nwant\n%+v", name, after, before)
		}
	}
}
