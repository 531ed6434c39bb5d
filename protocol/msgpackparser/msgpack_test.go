package msgpackparser

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/siogate/siogate/protocol/socketio"
	"github.com/vmihailenco/msgpack/v5"
)

// enc builds a msgpack message from a value, keys in the order given
// (pairs of key, value), the way notepack.io writes JavaScript objects.
func enc(t testing.TB, kv ...any) []byte {
	t.Helper()
	var buf bytes.Buffer
	e := msgpack.NewEncoder(&buf)
	e.UseCompactInts(true)
	if err := e.EncodeMapLen(len(kv) / 2); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(kv); i += 2 {
		if err := e.Encode(kv[i]); err != nil {
			t.Fatal(err)
		}
		if raw, ok := kv[i+1].(msgpack.RawMessage); ok {
			buf.Write(raw)
			continue
		}
		if err := e.Encode(kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func mustHex(s string) msgpack.RawMessage {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestDecodeValid(t *testing.T) {
	tests := []struct {
		name   string
		msg    []byte
		typ    socketio.Type
		nsp    string
		hasID  bool
		id     uint64
		data   string
		nAtt   int
		attach []string
	}{
		{name: "connect without auth", msg: enc(t, "type", 0, "nsp", "/"), typ: socketio.Connect, nsp: "/"},
		{name: "connect with auth", msg: enc(t, "type", 0, "nsp", "/admin", "data", map[string]any{"token": "abc", "n": 3}),
			typ: socketio.Connect, nsp: "/admin", data: `{"n":3,"token":"abc"}`},
		{name: "connect null data", msg: enc(t, "type", 0, "nsp", "/", "data", nil), typ: socketio.Connect, nsp: "/"},
		{name: "disconnect", msg: enc(t, "type", 1, "nsp", "/chat"), typ: socketio.Disconnect, nsp: "/chat"},
		{name: "event with options key (socket.io-client)", msg: enc(t, "type", 2, "data", []any{"hi", 1, -2, 1.5, true, nil, "é"}, "options", map[string]any{"compress": true}, "nsp", "/"),
			typ: socketio.Event, nsp: "/", data: `["hi",1,-2,1.5,true,null,"é"]`},
		{name: "event with id", msg: enc(t, "type", 2, "data", []any{"ev"}, "nsp", "/", "id", 7), typ: socketio.Event, nsp: "/", hasID: true, id: 7, data: `["ev"]`},
		{name: "float type and id", msg: enc(t, "type", 3.0, "data", []any{}, "nsp", "/", "id", 9.0), typ: socketio.Ack, nsp: "/", hasID: true, id: 9, data: `[]`},
		{name: "binary event", msg: enc(t, "type", 2, "data", []any{"bin", []byte{1, 2}, map[string]any{"x": []any{[]byte("yz")}}}, "nsp", "/"),
			typ: socketio.BinaryEvent, nsp: "/", data: `["bin",{"_placeholder":true,"num":0},{"x":[{"_placeholder":true,"num":1}]}]`, attach: []string{"\x01\x02", "yz"}},
		{name: "binary ack", msg: enc(t, "type", 3, "data", []any{[]byte{}}, "nsp", "/", "id", 0), typ: socketio.BinaryAck, nsp: "/", hasID: true,
			data: `[{"_placeholder":true,"num":0}]`, attach: []string{""}},
		{name: "connect_error string", msg: enc(t, "type", 4, "data", "nope", "nsp", "/"), typ: socketio.ConnectError, nsp: "/", data: `"nope"`},
		{name: "connect_error object", msg: enc(t, "type", 4, "data", map[string]any{"message": "no", "data": map[string]any{"code": 42}}, "nsp", "/x"),
			typ: socketio.ConnectError, nsp: "/x", data: `{"data":{"code":42},"message":"no"}`},
		{name: "big ints stay ints", msg: enc(t, "type", 2, "data", []any{"n", int64(math.MaxInt64), int64(math.MinInt64), uint64(math.MaxUint64)}, "nsp", "/"),
			typ: socketio.Event, nsp: "/", data: `["n",9223372036854775807,-9223372036854775808,18446744073709551615]`},
		{name: "undefined (legacy fixext 0) in map and array", msg: enc(t, "type", 2, "nsp", "/", "data", mustHex("93a16581a161d40000d40000")),
			typ: socketio.Event, nsp: "/", data: `["e",{},null]`},
		{name: "undefined id", msg: enc(t, "type", 2, "nsp", "/", "data", []any{"e"}, "id", mustHex("d40000")), typ: socketio.Event, nsp: "/", data: `["e"]`},
		{name: "timestamp 32", msg: enc(t, "type", 2, "nsp", "/", "data", mustHex("92a165d6ff00000001")),
			typ: socketio.Event, nsp: "/", data: `["e","1970-01-01T00:00:01.000Z"]`},
		{name: "timestamp 64 with ms", msg: enc(t, "type", 2, "nsp", "/", "data", mustHex("92a165d7ff"+"1dcd6500"+"00000002")),
			typ: socketio.Event, nsp: "/", data: `["e","1970-01-01T00:00:02.125Z"]`},
		{name: "float32", msg: enc(t, "type", 2, "nsp", "/", "data", []any{"f", float32(0.5)}), typ: socketio.Event, nsp: "/", data: `["f",0.5]`},
		{name: "connect auth binary inlined", msg: enc(t, "type", 0, "nsp", "/", "data", map[string]any{"k": []byte("hi")}), typ: socketio.Connect, nsp: "/", data: `{"k":"aGk="}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := (&Decoder{}).Add(tt.msg, true)
			if err != nil {
				t.Fatalf("Add: %v", err)
			}
			if p.Type != tt.typ || p.Namespace != tt.nsp || p.HasID != tt.hasID || p.ID != tt.id || string(p.Data) != tt.data {
				t.Errorf("got %v %q id=%v/%d data=%s", p.Type, p.Namespace, p.HasID, p.ID, p.Data)
			}
			if len(p.Attachments) != len(tt.attach) {
				t.Fatalf("attachments = %q, want %q", p.Attachments, tt.attach)
			}
			for i, a := range tt.attach {
				if string(p.Attachments[i]) != a {
					t.Errorf("attachment %d = %q, want %q", i, p.Attachments[i], a)
				}
			}
		})
	}
}

func TestDecodeInvalid(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"not a map", mustHex("93020203")},
		{"truncated", enc(t, "type", 2, "nsp", "/", "data", []any{"e"})[:8]},
		{"trailing bytes", append(enc(t, "type", 1, "nsp", "/"), 0xc0)},
		{"missing type", enc(t, "nsp", "/")},
		{"type string", enc(t, "type", "2", "nsp", "/", "data", []any{"e"})},
		{"type 5 (no binary types)", enc(t, "type", 5, "nsp", "/", "data", []any{"e"})},
		{"type 6", enc(t, "type", 6, "nsp", "/", "data", []any{"e"}, "id", 1)},
		{"type negative", enc(t, "type", -1, "nsp", "/")},
		{"type fractional", enc(t, "type", 2.5, "nsp", "/", "data", []any{"e"})},
		{"missing nsp", enc(t, "type", 2, "data", []any{"e"})},
		{"nsp not string", enc(t, "type", 2, "nsp", 1, "data", []any{"e"})},
		{"nsp without slash", enc(t, "type", 2, "nsp", "chat", "data", []any{"e"})},
		{"nsp empty", enc(t, "type", 2, "nsp", "", "data", []any{"e"})},
		{"connect data array", enc(t, "type", 0, "nsp", "/", "data", []any{1})},
		{"connect data string", enc(t, "type", 0, "nsp", "/", "data", "x")},
		{"disconnect with data", enc(t, "type", 1, "nsp", "/", "data", map[string]any{})},
		{"disconnect with null data", enc(t, "type", 1, "nsp", "/", "data", nil)},
		{"connect_error without data", enc(t, "type", 4, "nsp", "/")},
		{"connect_error number", enc(t, "type", 4, "nsp", "/", "data", 3)},
		{"event data object", enc(t, "type", 2, "nsp", "/", "data", map[string]any{"a": 1})},
		{"event without data", enc(t, "type", 2, "nsp", "/")},
		{"event empty", enc(t, "type", 2, "nsp", "/", "data", []any{})},
		{"event name not string", enc(t, "type", 2, "nsp", "/", "data", []any{1})},
		{"ack without id", enc(t, "type", 3, "nsp", "/", "data", []any{})},
		{"ack data string", enc(t, "type", 3, "nsp", "/", "data", "x", "id", 1)},
		{"id string", enc(t, "type", 2, "nsp", "/", "data", []any{"e"}, "id", "1")},
		{"id null", enc(t, "type", 2, "nsp", "/", "data", []any{"e"}, "id", nil)},
		{"id negative", enc(t, "type", 2, "nsp", "/", "data", []any{"e"}, "id", -1)},
		{"id fractional", enc(t, "type", 2, "nsp", "/", "data", []any{"e"}, "id", 1.5)},
		{"id too large", enc(t, "type", 2, "nsp", "/", "data", []any{"e"}, "id", int64(1)<<53)},
		{"map key not string", mustHex("82a474797065020102")},
		{"array length beyond input", enc(t, "type", 2, "nsp", "/", "data", mustHex("dd7fffffff"))},
		{"string length beyond input", enc(t, "type", 2, "nsp", "/", "data", mustHex("91dbffffffff"))},
		{"reserved code 0xc1", enc(t, "type", 2, "nsp", "/", "data", mustHex("92a165c1"))},
		{"too deep", enc(t, "type", 2, "nsp", "/", "data", msgpack.RawMessage(append(bytes.Repeat([]byte{0x91}, 2000), 0xc0)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := (&Decoder{}).Add(tt.msg, true)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			if !errors.Is(err, socketio.ErrInvalidPacket) {
				t.Errorf("error %v is not ErrInvalidPacket", err)
			}
		})
	}
	if _, err := (&Decoder{}).Add(enc(t, "type", 1, "nsp", "/"), false); !errors.Is(err, socketio.ErrInvalidPacket) {
		t.Errorf("text message: %v", err)
	}
}

func TestDecodeLimits(t *testing.T) {
	msg := enc(t, "type", 2, "nsp", "/", "data", []any{"e", []byte("a"), []byte("bc"), []byte("d")})
	d := Parser{}.NewDecoder(socketio.Limits{MaxAttachments: 2})
	if _, err := d.Add(msg, true); !errors.Is(err, socketio.ErrTooManyAttachments) {
		t.Errorf("3 binaries with a limit of 2: %v", err)
	}
	d = Parser{}.NewDecoder(socketio.Limits{MaxBytes: 3})
	if _, err := d.Add(msg, true); !errors.Is(err, socketio.ErrTooManyAttachments) {
		t.Errorf("4 binary bytes with a limit of 3: %v", err)
	}
	d = Parser{}.NewDecoder(socketio.Limits{MaxAttachments: 3, MaxBytes: 4})
	if _, err := d.Add(msg, true); err != nil {
		t.Errorf("within limits: %v", err)
	}
}

// decodeMap reads back an encoded packet as a plain map.
func decodeMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := msgpack.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEncode(t *testing.T) {
	blob := []byte{0, 1, 0xff}
	ev, err := socketio.NewEvent("/chat", "msg", []any{"hi", 42, 1.25, blob, map[string]any{"nested": []any{blob, nil, true}}})
	if err != nil {
		t.Fatal(err)
	}
	ev.HasID, ev.ID = true, 12
	msgs, err := Parser{}.Encode(&ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || !msgs[0].Binary {
		t.Fatalf("messages = %+v, want one binary", msgs)
	}
	m := decodeMap(t, msgs[0].Data)
	want := map[string]any{
		"type": int8(2), "nsp": "/chat", "id": int8(12),
		"data": []any{"msg", "hi", int8(42), 1.25, blob, map[string]any{"nested": []any{blob, nil, true}}},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("encoded %#v\nwant    %#v", m, want)
	}
	// Compact integers, as notepack.io writes them: "type" is one byte.
	if !bytes.Contains(msgs[0].Data, []byte("\xa4type\x02")) {
		t.Errorf("type not a positive fixint: %x", msgs[0].Data)
	}

	for _, tc := range []struct {
		p    socketio.Packet
		want map[string]any
	}{
		{socketio.Packet{Type: socketio.Connect, Namespace: "/", Data: []byte(`{"sid":"abc"}`)},
			map[string]any{"type": int8(0), "nsp": "/", "data": map[string]any{"sid": "abc"}}},
		{socketio.Packet{Type: socketio.Connect, Namespace: "/"}, map[string]any{"type": int8(0), "nsp": "/"}},
		{socketio.Packet{Type: socketio.Disconnect, Namespace: "/a"}, map[string]any{"type": int8(1), "nsp": "/a"}},
		{socketio.Packet{Type: socketio.ConnectError, Namespace: "/", Data: []byte(`{"message":"no","data":{"n":1}}`)},
			map[string]any{"type": int8(4), "nsp": "/", "data": map[string]any{"message": "no", "data": map[string]any{"n": int8(1)}}}},
		{socketio.Packet{Type: socketio.Ack, Namespace: "", HasID: true, ID: 70000, Data: []byte(`[]`)},
			map[string]any{"type": int8(3), "nsp": "/", "id": uint32(70000), "data": []any{}}},
	} {
		b, err := Marshal(&tc.p)
		if err != nil {
			t.Fatal(err)
		}
		if m := decodeMap(t, b); !reflect.DeepEqual(m, tc.want) {
			t.Errorf("%v: encoded %#v, want %#v", tc.p.Type, m, tc.want)
		}
	}
	if _, err := Marshal(&socketio.Packet{Type: 9, Namespace: "/"}); err == nil {
		t.Error("type 9 encoded")
	}
}

func TestRoundTrip(t *testing.T) {
	blob := bytes.Repeat([]byte{7}, 300)
	args := []any{"s", int64(-5), int64(1) << 40, 2.5, false, nil, blob,
		map[string]any{"a": []any{int64(1), "x", []byte("q")}, "b": map[string]any{}}, []any{}}
	ev, err := socketio.NewEvent("/n", "ev", args)
	if err != nil {
		t.Fatal(err)
	}
	ev.HasID, ev.ID = true, maxAckID
	packets := []socketio.Packet{
		ev,
		{Type: socketio.Connect, Namespace: "/", Data: []byte(`{"token":"t","n":1}`)},
		{Type: socketio.Connect, Namespace: "/x"},
		{Type: socketio.Disconnect, Namespace: "/"},
		{Type: socketio.ConnectError, Namespace: "/", Data: []byte(`"refused"`)},
	}
	for _, p := range packets {
		b, err := Marshal(&p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("%v: %v (%x)", p.Type, err, b)
		}
		if got.Type != p.Type || got.Namespace != p.Namespace || got.HasID != p.HasID || got.ID != p.ID {
			t.Errorf("header %+v, want %+v", got, p)
		}
		wantVals, err := socketio.NewArgs([][]byte{orNull(p.Data)}, p.Attachments).Generic()
		if err != nil {
			t.Fatal(err)
		}
		if p.Type == socketio.BinaryEvent {
			a, _ := socketio.ParseArgs(p.Data, p.Attachments)
			wantVals, _ = a.Generic()
		}
		gotArgs := socketio.NewArgs([][]byte{orNull(got.Data)}, got.Attachments)
		gotVals, err := gotArgs.Generic()
		if p.Type == socketio.BinaryEvent {
			a, _ := socketio.ParseArgs(got.Data, got.Attachments)
			gotVals, err = a.Generic()
		}
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gotVals, wantVals) {
			t.Errorf("%v values %#v, want %#v", p.Type, gotVals, wantVals)
		}
	}
	// Ints stay ints through Args.
	got, _ := Unmarshal(mustMarshal(t, &ev))
	_, a, err := socketio.EventName(&got)
	if err != nil {
		t.Fatal(err)
	}
	if string(a.Raw(1)) != "-5" || string(a.Raw(2)) != "1099511627776" || string(a.Raw(3)) != "2.5" {
		t.Errorf("numbers %s %s %s", a.Raw(1), a.Raw(2), a.Raw(3))
	}
	var b []byte
	if err := a.Decode(6, &b); err != nil || !bytes.Equal(b, blob) {
		t.Errorf("binary arg %v, %v", len(b), err)
	}
}

func orNull(b []byte) []byte {
	if b == nil {
		return []byte("null")
	}
	return b
}

func mustMarshal(t *testing.T, p *socketio.Packet) []byte {
	t.Helper()
	b, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzDecode(f *testing.F) {
	f.Add(enc(f, "type", 2, "nsp", "/", "data", []any{"e", 1, []byte("x"), map[string]any{"k": 1.5}}, "id", 3))
	f.Add(enc(f, "type", 0, "nsp", "/", "data", map[string]any{"token": "x"}))
	f.Add(enc(f, "type", 4, "nsp", "/", "data", "no"))
	f.Add(enc(f, "type", 2, "nsp", "/", "data", mustHex("92a165d7ff1dcd650000000002")))
	f.Add(enc(f, "type", 2, "nsp", "/", "data", mustHex("93a16581a161d40000d40000")))
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		d := Parser{}.NewDecoder(socketio.Limits{})
		p, err := d.Add(data, true)
		if err != nil {
			if p != nil {
				t.Fatal("packet with an error")
			}
			return
		}
		// What decodes must make a valid JSON packet and encode again.
		if p.Data != nil {
			text := socketio.Append(nil, p)
			if _, err := (&socketio.Decoder{}).Add(text, false); err != nil && !p.Type.IsBinary() {
				t.Fatalf("decoded packet is not a valid JSON packet: %s: %v", text, err)
			}
		}
		b, err := Marshal(p)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		if _, err := Unmarshal(b); err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
	})
}
