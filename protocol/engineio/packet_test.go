package engineio

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// Packet types and their one-digit encoding, from the spec's type table.
func TestPacketTypes(t *testing.T) {
	tests := []struct {
		typ  PacketType
		char byte
		name string
	}{
		{Open, '0', "open"},
		{Close, '1', "close"},
		{Ping, '2', "ping"},
		{Pong, '3', "pong"},
		{Message, '4', "message"},
		{Upgrade, '5', "upgrade"},
		{Noop, '6', "noop"},
	}
	for _, tt := range tests {
		if got := tt.typ.Char(); got != tt.char {
			t.Errorf("%v.Char() = %q, want %q", tt.typ, got, tt.char)
		}
		if got := tt.typ.String(); got != tt.name {
			t.Errorf("PacketType(%d).String() = %q, want %q", tt.typ, got, tt.name)
		}
	}
	if got := PacketType(7).String(); got != "PacketType(7)" {
		t.Errorf("PacketType(7).String() = %q", got)
	}
	if Protocol != 4 {
		t.Errorf("Protocol = %d, want 4", Protocol)
	}
	if RecordSeparator != 0x1e {
		t.Errorf("RecordSeparator = %#x, want 0x1e", RecordSeparator)
	}
}

func samePacket(a, b Packet) bool {
	return a.Type == b.Type && a.Binary == b.Binary && bytes.Equal(a.Data, b.Data)
}

func fmtPacket(p Packet) string {
	return fmt.Sprintf("{Type:%v Binary:%v Data:%q}", p.Type, p.Binary, p.Data)
}

// WebSocket frames: "<packet type>[<data>]" as text, binary payloads as is.
func TestDecodeFrame(t *testing.T) {
	tests := []struct {
		name   string
		frame  string
		binary bool
		want   Packet
	}{
		{"open", `0{"sid":"abc"}`, false, Packet{Type: Open, Data: []byte(`{"sid":"abc"}`)}},
		{"close", "1", false, Packet{Type: Close}},
		{"ping", "2", false, Packet{Type: Ping}},
		{"ping probe", "2probe", false, Packet{Type: Ping, Data: []byte("probe")}},
		{"pong", "3", false, Packet{Type: Pong}},
		{"pong probe", "3probe", false, Packet{Type: Pong, Data: []byte("probe")}},
		{"message", "4hello", false, Packet{Type: Message, Data: []byte("hello")}},
		{"message utf8", "4€", false, Packet{Type: Message, Data: []byte("€")}},
		{"empty message", "4", false, Packet{Type: Message}},
		{"socket.io event", `42["hello"]`, false, Packet{Type: Message, Data: []byte(`2["hello"]`)}},
		{"upgrade", "5", false, Packet{Type: Upgrade}},
		{"noop", "6", false, Packet{Type: Noop}},
		{"binary", "\x01\x02\x03\x04", true, Packet{Type: Message, Data: []byte{1, 2, 3, 4}, Binary: true}},
		{"binary that looks like text", "4hello", true, Packet{Type: Message, Data: []byte("4hello"), Binary: true}},
		{"empty binary", "", true, Packet{Type: Message, Data: []byte{}, Binary: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeFrame([]byte(tt.frame), tt.binary)
			if err != nil {
				t.Fatalf("DecodeFrame(%q, %v): %v", tt.frame, tt.binary, err)
			}
			if !samePacket(got, tt.want) {
				t.Fatalf("DecodeFrame(%q, %v) = %s, want %s", tt.frame, tt.binary, fmtPacket(got), fmtPacket(tt.want))
			}
			if tt.binary {
				return
			}
			// Text frames re-encode byte for byte.
			if enc := AppendText(nil, got.Type, got.Data); string(enc) != tt.frame {
				t.Fatalf("AppendText = %q, want %q", enc, tt.frame)
			}
		})
	}
}

func TestDecodeFrameInvalid(t *testing.T) {
	for _, frame := range []string{"", "7", "9", "a", "b", "bAQIDBA==", "/", " 4", "\x1e", "\x00"} {
		if _, err := DecodeFrame([]byte(frame), false); !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("DecodeFrame(%q, text) error = %v, want ErrInvalidPacket", frame, err)
		}
	}
}

func TestDecodeFrameAliases(t *testing.T) {
	frame := []byte("4hello")
	p, err := DecodeFrame(frame, false)
	if err != nil {
		t.Fatal(err)
	}
	frame[1] = 'j'
	if string(p.Data) != "jello" {
		t.Errorf("Data does not alias the frame: %q", p.Data)
	}
}

func TestAppendText(t *testing.T) {
	dst := []byte("prefix:")
	if got := string(AppendText(dst, Message, []byte("hi"))); got != "prefix:4hi" {
		t.Errorf("AppendText = %q", got)
	}
	if got := string(AppendText(nil, Ping, []byte("probe"))); got != "2probe" {
		t.Errorf("AppendText(ping probe) = %q", got)
	}
	if got := string(AppendText(nil, Noop, nil)); got != "6" {
		t.Errorf("AppendText(noop) = %q", got)
	}
}

func decodeAll(body []byte) ([]Packet, error) {
	var out []Packet
	err := DecodePayload(body, func(p Packet) error {
		out = append(out, p)
		return nil
	})
	return out, err
}

// Long-polling payloads: packets joined by \x1e, binary as "b" + base64.
func TestDecodePayload(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []Packet
	}{
		{"spec text example", "4hello\x1e2\x1e4world", []Packet{
			{Type: Message, Data: []byte("hello")},
			{Type: Ping},
			{Type: Message, Data: []byte("world")},
		}},
		{"spec binary example", "4hello\x1ebAQIDBA==", []Packet{
			{Type: Message, Data: []byte("hello")},
			{Type: Message, Data: []byte{1, 2, 3, 4}, Binary: true},
		}},
		{"single", "4hello", []Packet{{Type: Message, Data: []byte("hello")}}},
		{"handshake", `0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}`, []Packet{
			{Type: Open, Data: []byte(`{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}`)},
		}},
		{"spec sample session", "42[\"hello\"]\x1e42[\"world\"]", []Packet{
			{Type: Message, Data: []byte(`2["hello"]`)},
			{Type: Message, Data: []byte(`2["world"]`)},
		}},
		{"every type", "0\x1e1\x1e2\x1e3\x1e4\x1e5\x1e6", []Packet{
			{Type: Open}, {Type: Close}, {Type: Ping}, {Type: Pong}, {Type: Message}, {Type: Upgrade}, {Type: Noop},
		}},
		{"empty binary", "b", []Packet{{Type: Message, Data: []byte{}, Binary: true}}},
		{"binary only", "bAQID\x1ebBAUG", []Packet{
			{Type: Message, Data: []byte{1, 2, 3}, Binary: true},
			{Type: Message, Data: []byte{4, 5, 6}, Binary: true},
		}},
		{"binary then text", "bAA==\x1e4x", []Packet{
			{Type: Message, Data: []byte{0}, Binary: true},
			{Type: Message, Data: []byte("x")},
		}},
		{"socket.io binary event", "451-[\"baz\",{\"_placeholder\":true,\"num\":0}]\x1ebAQIDBA==", []Packet{
			{Type: Message, Data: []byte(`51-["baz",{"_placeholder":true,"num":0}]`)},
			{Type: Message, Data: []byte{1, 2, 3, 4}, Binary: true},
		}},
		{"multibyte text", "4€\x1e4日本", []Packet{
			{Type: Message, Data: []byte("€")},
			{Type: Message, Data: []byte("日本")},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeAll([]byte(tt.body))
			if err != nil {
				t.Fatalf("DecodePayload(%q): %v", tt.body, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("DecodePayload(%q) gave %d packets, want %d", tt.body, len(got), len(tt.want))
			}
			for i := range got {
				if !samePacket(got[i], tt.want[i]) {
					t.Errorf("packet %d = %s, want %s", i, fmtPacket(got[i]), fmtPacket(tt.want[i]))
				}
			}
			// Canonical bodies re-encode byte for byte.
			if enc := AppendPayload(nil, got); string(enc) != tt.body {
				t.Errorf("AppendPayload = %q, want %q", enc, tt.body)
			}
		})
	}
}

func TestDecodePayloadInvalid(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"empty body", ""},
		{"trailing separator", "4hello\x1e"},
		{"only separator", "\x1e"},
		{"leading separator", "\x1e4hello"},
		{"empty record in the middle", "4a\x1e\x1e4b"},
		{"bad type digit", "7hello"},
		{"bad type digit after good packet", "4hello\x1e9x"},
		{"letter type", "xhello"},
		{"bad base64", "b!!!!"},
		{"bad base64 length", "bAQIDB"},
		{"bad base64 after text", "4hello\x1ebAQ=D"},
		{"base64 missing padding", "bAQIDBA"},
		{"uppercase B is not binary", "BAQIDBA=="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := DecodePayload([]byte(tt.body), func(Packet) error { calls++; return nil })
			if !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("DecodePayload(%q) error = %v, want ErrInvalidPacket", tt.body, err)
			}
		})
	}
}

// Packets before a malformed record are delivered, in order; decoding stops
// at the first error.
func TestDecodePayloadStopsAtFirstError(t *testing.T) {
	var got []string
	err := DecodePayload([]byte("4a\x1e4b\x1e8c\x1e4d"), func(p Packet) error {
		got = append(got, string(p.Data))
		return nil
	})
	if !errors.Is(err, ErrInvalidPacket) {
		t.Fatalf("error = %v, want ErrInvalidPacket", err)
	}
	if fmt.Sprint(got) != "[a b]" {
		t.Fatalf("delivered %q before the error, want [a b]", got)
	}
}

func TestDecodePayloadCallbackError(t *testing.T) {
	stop := errors.New("stop")
	calls := 0
	err := DecodePayload([]byte("4a\x1e4b\x1e4c"), func(Packet) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if err != stop {
		t.Fatalf("error = %v, want the callback's error", err)
	}
	if calls != 2 {
		t.Fatalf("callback ran %d times, want 2", calls)
	}
}

func TestDecodePayloadBinaryIsFresh(t *testing.T) {
	body := []byte("bAQIDBA==\x1e4hi")
	var ps []Packet
	if err := DecodePayload(body, func(p Packet) error { ps = append(ps, p); return nil }); err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 0
	}
	if !bytes.Equal(ps[0].Data, []byte{1, 2, 3, 4}) {
		t.Errorf("binary Data changed with the body: %v", ps[0].Data)
	}
	if !bytes.Equal(ps[1].Data, []byte{0, 0}) {
		t.Errorf("text Data should alias the body, got %q", ps[1].Data)
	}
}

func TestAppendPayload(t *testing.T) {
	tests := []struct {
		name    string
		packets []Packet
		want    string
	}{
		{"none", nil, ""},
		{"one", []Packet{{Type: Message, Data: []byte("hello")}}, "4hello"},
		{"spec example", []Packet{
			{Type: Message, Data: []byte("hello")},
			{Type: Ping},
			{Type: Message, Data: []byte("world")},
		}, "4hello\x1e2\x1e4world"},
		{"spec binary example", []Packet{
			{Type: Message, Data: []byte("hello")},
			{Type: Message, Data: []byte{1, 2, 3, 4}, Binary: true},
		}, "4hello\x1ebAQIDBA=="},
		{"noop", []Packet{{Type: Noop}}, "6"},
		{"empty binary", []Packet{{Type: Message, Binary: true}}, "b"},
		{"binary with padding 1", []Packet{{Type: Message, Data: []byte{0xff, 0xfe}, Binary: true}}, "b//4="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendPayload(nil, tt.packets)
			if string(got) != tt.want {
				t.Fatalf("AppendPayload = %q, want %q", got, tt.want)
			}
			n := 0
			for i, p := range tt.packets {
				if i > 0 {
					n++
				}
				n += RecordLen(p)
			}
			if n != len(got) {
				t.Fatalf("sum of RecordLen + separators = %d, encoded length %d", n, len(got))
			}
		})
	}
	if got := string(AppendPayload([]byte("x"), []Packet{{Type: Pong}})); got != "x3" {
		t.Errorf("AppendPayload does not append to dst: %q", got)
	}
}

func TestRecordLen(t *testing.T) {
	tests := []struct {
		p    Packet
		want int
	}{
		{Packet{Type: Ping}, 1},
		{Packet{Type: Message, Data: []byte("hello")}, 6},
		{Packet{Type: Message, Data: []byte("€")}, 4}, // bytes, not characters
		{Packet{Type: Message, Binary: true}, 1},
		{Packet{Type: Message, Data: []byte{1}, Binary: true}, 5},
		{Packet{Type: Message, Data: []byte{1, 2, 3, 4}, Binary: true}, 9},
	}
	for _, tt := range tests {
		if got := RecordLen(tt.p); got != tt.want {
			t.Errorf("RecordLen(%s) = %d, want %d", fmtPacket(tt.p), got, tt.want)
		}
		if got := len(AppendRecord(nil, tt.p)); got != tt.want {
			t.Errorf("len(AppendRecord(%s)) = %d, want %d", fmtPacket(tt.p), got, tt.want)
		}
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	big := make([]byte, 1<<16)
	for i := range big {
		big[i] = byte(i * 7)
	}
	packets := []Packet{
		{Type: Open, Data: []byte(`{"sid":"x"}`)},
		{Type: Message, Data: []byte(`2["chat",{"text":"hello world"}]`)},
		{Type: Message, Data: big, Binary: true},
		{Type: Ping, Data: []byte("probe")},
		{Type: Message, Data: []byte{}, Binary: true},
		{Type: Message, Data: []byte("b is a letter, not a prefix here")},
		{Type: Noop},
	}
	body := AppendPayload(nil, packets)
	got, err := decodeAll(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(packets) {
		t.Fatalf("got %d packets, want %d", len(got), len(packets))
	}
	for i := range got {
		if !samePacket(got[i], packets[i]) {
			t.Errorf("packet %d: got %.60s, want %.60s", i, fmtPacket(got[i]), fmtPacket(packets[i]))
		}
	}
}
