package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestTypes(t *testing.T) {
	tests := []struct {
		typ    Type
		name   string
		binary bool
	}{
		{Connect, "CONNECT", false},
		{Disconnect, "DISCONNECT", false},
		{Event, "EVENT", false},
		{Ack, "ACK", false},
		{ConnectError, "CONNECT_ERROR", false},
		{BinaryEvent, "BINARY_EVENT", true},
		{BinaryAck, "BINARY_ACK", true},
	}
	for i, tt := range tests {
		if int(tt.typ) != i {
			t.Errorf("%s = %d, want %d", tt.name, tt.typ, i)
		}
		if got := tt.typ.String(); got != tt.name {
			t.Errorf("Type(%d).String() = %q, want %q", tt.typ, got, tt.name)
		}
		if got := tt.typ.IsBinary(); got != tt.binary {
			t.Errorf("%s.IsBinary() = %v", tt.name, got)
		}
	}
	if got := Type(7).String(); got != "Type(7)" {
		t.Errorf("Type(7).String() = %q", got)
	}
	if Protocol != 5 {
		t.Errorf("Protocol = %d, want 5", Protocol)
	}
}

func fmtPacket(p *Packet) string {
	if p == nil {
		return "<nil>"
	}
	s := fmt.Sprintf("{%v ns=%q", p.Type, p.Namespace)
	if p.HasID {
		s += fmt.Sprintf(" id=%d", p.ID)
	}
	if p.Data != nil {
		s += fmt.Sprintf(" data=%s", p.Data)
	}
	if p.Attachments != nil {
		s += fmt.Sprintf(" att=%v", p.Attachments)
	}
	return s + "}"
}

// samePacket compares every field; nil and empty Data differ (absent vs
// present payload), attachments compare by content.
func samePacket(a, b *Packet) bool {
	if a.Type != b.Type || a.Namespace != b.Namespace || a.HasID != b.HasID || a.ID != b.ID {
		return false
	}
	if (a.Data == nil) != (b.Data == nil) || !bytes.Equal(a.Data, b.Data) {
		return false
	}
	if len(a.Attachments) != len(b.Attachments) {
		return false
	}
	for i := range a.Attachments {
		if !bytes.Equal(a.Attachments[i], b.Attachments[i]) {
			return false
		}
	}
	return true
}

func mustPacket(p Packet, err error) Packet {
	if err != nil {
		panic(err)
	}
	return p
}

func withID(p Packet, id uint64) Packet {
	p.HasID, p.ID = true, id
	return p
}

var buf1234 = []byte{1, 2, 3, 4}

// The spec's "Packet encoding" examples and sample session, byte for byte.
// Each packet is built with the encoding API, encoded, compared with the
// spec, then decoded back with a Decoder.
var specExamples = []struct {
	name    string
	packet  Packet
	encoded string
}{
	{"connect main", Packet{Type: Connect, Namespace: "/"}, `0`},
	{"connect custom", Packet{Type: Connect, Namespace: "/admin", Data: []byte(`{"sid":"oSO0OpakMV_3jnilAAAA"}`)},
		`0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}`},
	{"connect with payload", Packet{Type: Connect, Namespace: "/admin", Data: []byte(`{"token":"123"}`)},
		`0/admin,{"token":"123"}`},
	{"connect answer", Packet{Type: Connect, Namespace: "/", Data: []byte(`{"sid":"wZX3oN0bSVIhsaknAAAI"}`)},
		`0{"sid":"wZX3oN0bSVIhsaknAAAI"}`},
	{"connect admin, no payload", Packet{Type: Connect, Namespace: "/admin"}, `0/admin,`},
	{"connect admin answer", Packet{Type: Connect, Namespace: "/admin", Data: []byte(`{"sid":"-G5j-67EZFp-q59rADQM"}`)},
		`0/admin,{"sid":"-G5j-67EZFp-q59rADQM"}`},
	{"connect error", Packet{Type: ConnectError, Namespace: "/", Data: []byte(`{"message":"Not authorized"}`)},
		`4{"message":"Not authorized"}`},
	{"event main", mustPacket(NewEvent("/", "foo", nil)), `2["foo"]`},
	{"event custom", mustPacket(NewEvent("/admin", "bar", nil)), `2/admin,["bar"]`},
	{"event sample session", mustPacket(NewEvent("/", "hey", []any{"Jude"})), `2["hey","Jude"]`},
	{"binary event", mustPacket(NewEvent("/", "baz", []any{buf1234})),
		`51-["baz",{"_placeholder":true,"num":0}]`},
	{"binary event two attachments", mustPacket(NewEvent("/admin", "baz", []any{[]byte{1, 2}, []byte{3, 4}})),
		`52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`},
	{"event with ack id", withID(mustPacket(NewEvent("/", "foo", nil)), 12), `212["foo"]`},
	{"event custom with ack id", withID(mustPacket(NewEvent("/admin", "foo", nil)), 13), `2/admin,13["foo"]`},
	{"event sample session ack", withID(mustPacket(NewEvent("/admin", "tellme", nil)), 1), `2/admin,1["tellme"]`},
	{"binary event with ack id", withID(mustPacket(NewEvent("/", "foo", []any{buf1234})), 14),
		`51-14["foo",{"_placeholder":true,"num":0}]`},
	{"ack empty", mustPacket(NewAck("/", 12, nil)), `312[]`},
	{"ack custom", mustPacket(NewAck("/admin", 13, []any{"bar"})), `3/admin,13["bar"]`},
	{"ack main", mustPacket(NewAck("/", 14, []any{"bar"})), `314["bar"]`},
	{"binary ack", mustPacket(NewAck("/", 15, []any{"bar", buf1234})),
		`61-15["bar",{"_placeholder":true,"num":0}]`},
	{"binary ack sample session", mustPacket(NewAck("/admin", 1, []any{buf1234})),
		`61-/admin,1[{"_placeholder":true,"num":0}]`},
	{"disconnect main", Packet{Type: Disconnect, Namespace: "/"}, `1`},
	{"disconnect custom", Packet{Type: Disconnect, Namespace: "/admin"}, `1/admin,`},
}

func TestSpecExamples(t *testing.T) {
	for _, tt := range specExamples {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.packet
			if got := string(Append(nil, &p)); got != tt.encoded {
				t.Fatalf("Append = %s, want %s", got, tt.encoded)
			}
			hdr := AppendHeader(nil, &p)
			if !strings.HasPrefix(tt.encoded, string(hdr)) || string(hdr)+string(p.Data) != tt.encoded {
				t.Fatalf("AppendHeader = %s does not prefix %s", hdr, tt.encoded)
			}

			parsed, want, err := Parse([]byte(tt.encoded))
			if err != nil {
				t.Fatalf("Parse(%s): %v", tt.encoded, err)
			}
			if want != len(p.Attachments) {
				t.Fatalf("Parse(%s) want = %d attachments, packet has %d", tt.encoded, want, len(p.Attachments))
			}
			if parsed.Attachments != nil {
				t.Fatalf("Parse returned attachments %v", parsed.Attachments)
			}

			var d Decoder
			got, err := d.Add([]byte(tt.encoded), false)
			for i, a := range p.Attachments {
				if err != nil {
					break
				}
				if got != nil {
					t.Fatalf("packet completed with %d of %d attachments", i, len(p.Attachments))
				}
				if d.Awaiting() != len(p.Attachments)-i {
					t.Fatalf("Awaiting = %d, want %d", d.Awaiting(), len(p.Attachments)-i)
				}
				got, err = d.Add(a, true)
			}
			if err != nil {
				t.Fatalf("Decoder: %v", err)
			}
			if got == nil {
				t.Fatalf("Decoder did not complete the packet")
			}
			if d.Awaiting() != 0 {
				t.Fatalf("Awaiting = %d after completion", d.Awaiting())
			}
			if !samePacket(got, &p) {
				t.Fatalf("decoded %s, want %s", fmtPacket(got), fmtPacket(&p))
			}
		})
	}
}

// The same examples as an Engine.IO message would carry them: the decoded
// event names and arguments.
func TestSpecExampleEvents(t *testing.T) {
	var d Decoder
	p, err := d.Add([]byte(`52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`), false)
	if p != nil || err != nil {
		t.Fatalf("Add(text) = %v, %v", p, err)
	}
	if _, err := d.Add([]byte{1, 2}, true); err != nil {
		t.Fatal(err)
	}
	p, err = d.Add([]byte{3, 4}, true)
	if err != nil || p == nil {
		t.Fatalf("Add(second attachment) = %v, %v", p, err)
	}
	name, args, err := EventName(p)
	if err != nil || name != "baz" {
		t.Fatalf("EventName = %q, %v", name, err)
	}
	vals, err := args.Values()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(vals, []any{[]byte{1, 2}, []byte{3, 4}}) {
		t.Fatalf("Values = %v", vals)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		text string
		want Packet
		n    int
	}{
		{`0`, Packet{Type: Connect, Namespace: "/"}, 0},
		{`0{}`, Packet{Type: Connect, Namespace: "/", Data: []byte(`{}`)}, 0},
		{`0 {"a":1}`, Packet{Type: Connect, Namespace: "/", Data: []byte(` {"a":1}`)}, 0},
		{`0/admin,`, Packet{Type: Connect, Namespace: "/admin"}, 0},
		{`0/admin`, Packet{Type: Connect, Namespace: "/admin"}, 0},
		{`0/,{}`, Packet{Type: Connect, Namespace: "/", Data: []byte(`{}`)}, 0},
		{`0/a/b?x=1,{"t":"1"}`, Packet{Type: Connect, Namespace: "/a/b?x=1", Data: []byte(`{"t":"1"}`)}, 0},
		{`1`, Packet{Type: Disconnect, Namespace: "/"}, 0},
		{`1/admin,`, Packet{Type: Disconnect, Namespace: "/admin"}, 0},
		{`2["foo"]`, Packet{Type: Event, Namespace: "/", Data: []byte(`["foo"]`)}, 0},
		{`2[ "foo" , 1 ]`, Packet{Type: Event, Namespace: "/", Data: []byte(`[ "foo" , 1 ]`)}, 0},
		{`2["",null]`, Packet{Type: Event, Namespace: "/", Data: []byte(`["",null]`)}, 0},
		{`20["x"]`, Packet{Type: Event, Namespace: "/", HasID: true, ID: 0, Data: []byte(`["x"]`)}, 0},
		{`2/admin,12["ev",{"a":[1,2]}]`, Packet{Type: Event, Namespace: "/admin", HasID: true, ID: 12, Data: []byte(`["ev",{"a":[1,2]}]`)}, 0},
		{`29007199254740991["x"]`, Packet{Type: Event, Namespace: "/", HasID: true, ID: 1<<53 - 1, Data: []byte(`["x"]`)}, 0},
		{`312[]`, Packet{Type: Ack, Namespace: "/", HasID: true, ID: 12, Data: []byte(`[]`)}, 0},
		{`3/admin,13["bar"]`, Packet{Type: Ack, Namespace: "/admin", HasID: true, ID: 13, Data: []byte(`["bar"]`)}, 0},
		{`31[1,{"x":[]}]`, Packet{Type: Ack, Namespace: "/", HasID: true, ID: 1, Data: []byte(`[1,{"x":[]}]`)}, 0},
		{`4{"message":"Not authorized"}`, Packet{Type: ConnectError, Namespace: "/", Data: []byte(`{"message":"Not authorized"}`)}, 0},
		{`4"Not authorized"`, Packet{Type: ConnectError, Namespace: "/", Data: []byte(`"Not authorized"`)}, 0},
		{`4/admin,{"message":"x","data":{"code":1}}`, Packet{Type: ConnectError, Namespace: "/admin", Data: []byte(`{"message":"x","data":{"code":1}}`)}, 0},
		{`51-["baz",{"_placeholder":true,"num":0}]`, Packet{Type: BinaryEvent, Namespace: "/", Data: []byte(`["baz",{"_placeholder":true,"num":0}]`)}, 1},
		{`50-["baz"]`, Packet{Type: BinaryEvent, Namespace: "/", Data: []byte(`["baz"]`)}, 0},
		{`512-/admin,7["a"]`, Packet{Type: BinaryEvent, Namespace: "/admin", HasID: true, ID: 7, Data: []byte(`["a"]`)}, 12},
		{`5999999-["a"]`, Packet{Type: BinaryEvent, Namespace: "/", Data: []byte(`["a"]`)}, 999999},
		{`61-15["bar",{"_placeholder":true,"num":0}]`, Packet{Type: BinaryAck, Namespace: "/", HasID: true, ID: 15, Data: []byte(`["bar",{"_placeholder":true,"num":0}]`)}, 1},
		{`61-/admin,1[{"_placeholder":true,"num":0}]`, Packet{Type: BinaryAck, Namespace: "/admin", HasID: true, ID: 1, Data: []byte(`[{"_placeholder":true,"num":0}]`)}, 1},
	}
	for _, tt := range tests {
		p, n, err := Parse([]byte(tt.text))
		if err != nil {
			t.Errorf("Parse(%s): %v", tt.text, err)
			continue
		}
		if n != tt.n || !samePacket(&p, &tt.want) {
			t.Errorf("Parse(%s) = %s, %d; want %s, %d", tt.text, fmtPacket(&p), n, fmtPacket(&tt.want), tt.n)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct{ name, text string }{
		{"empty", ``},
		{"type 7", `7`},
		{"type 9", `9["x"]`},
		{"letter type", `abc`},
		{"engine.io message prefix kept", `42["x"]`}, // CONNECT_ERROR with a number
		{"4abc", `4abc`},
		{"space before type", ` 2["x"]`},

		{"connect array", `0[]`},
		{"connect string", `0"x"`},
		{"connect bad json", `0{`},
		{"connect garbage", `0abc`},
		{"connect custom array", `0/admin,["x"]`},

		{"disconnect with object", `1{}`},
		{"disconnect with array", `1[]`},
		{"disconnect custom with payload", `1/admin,{}`},

		{"event without payload", `2`},
		{"event object", `2{}`},
		{"event string", `2"x"`},
		{"event empty array", `2[]`},
		{"event number first", `2[1]`},
		{"event null first", `2[null]`},
		{"event array first", `2[["x"]]`},
		{"event object first", `2[{"x":1}]`},
		{"event garbage before payload", `2abc["x"]`},
		{"event unterminated", `2["x"`},
		{"event trailing garbage", `2["x"]x`},
		{"event two arrays", `2["x"]["y"]`},
		{"event custom no payload", `2/admin,`},
		{"event custom no comma", `2/admin["x"]`},
		{"event id no payload", `212`},
		{"event id too big", `29007199254740992["x"]`},
		{"event id huge", `2123456789012345678901234567890["x"]`},
		{"event custom id too big", `2/admin,9999999999999999["x"]`},

		{"ack without id", `3["x"]`},
		{"ack without payload", `312`},
		{"ack object", `312{}`},
		{"ack string", `312"x"`},
		{"ack custom without id", `3/admin,["bar"]`},
		{"ack id too big", `318446744073709551616[]`},

		{"connect error without payload", `4`},
		{"connect error array", `4[]`},
		{"connect error number", `4/admin,1`},
		{"connect error custom no payload", `4/admin,`},

		{"binary event no count", `5["x"]`},
		{"binary event no dash", `51["x"]`},
		{"binary event dash only", `5-["x"]`},
		{"binary event bad count", `5a-["x"]`},
		{"binary event count too long", `51234567-["x"]`},
		{"binary event no payload", `51-`},
		{"binary event object", `51-{}`},
		{"binary event empty array", `51-[]`},
		{"binary event number first", `51-[{"_placeholder":true,"num":0}]`},
		{"binary ack no id", `61-[]`},
		{"binary ack object", `61-1{}`},
		{"binary ack no count", `61["x"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, n, err := Parse([]byte(tt.text)); !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("Parse(%q) = %s, %d, %v; want ErrInvalidPacket", tt.text, fmtPacket(&p), n, err)
			}
			var d Decoder
			if p, err := d.Add([]byte(tt.text), false); !errors.Is(err, ErrInvalidPacket) || p != nil {
				t.Fatalf("Decoder.Add(%q) = %s, %v; want ErrInvalidPacket", tt.text, fmtPacket(p), err)
			}
			if d.Awaiting() != 0 {
				t.Fatalf("Awaiting = %d after an invalid packet", d.Awaiting())
			}
		})
	}
}

func TestParseDataAliases(t *testing.T) {
	text := []byte(`2["foo"]`)
	p, _, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	text[3] = 'g'
	if string(p.Data) != `["goo"]` {
		t.Fatalf("Data does not alias the input: %s", p.Data)
	}
}

func TestAppendHeader(t *testing.T) {
	tests := []struct {
		p    Packet
		want string
	}{
		{Packet{Type: Connect}, `0`},
		{Packet{Type: Connect, Namespace: "/"}, `0`},
		{Packet{Type: Connect, Namespace: "/chat"}, `0/chat,`},
		{Packet{Type: Event, HasID: true, ID: 0}, `20`},
		{Packet{Type: Event, HasID: true, ID: 1<<53 - 1}, `29007199254740991`},
		// Attachments turn EVENT and ACK into their binary forms.
		{Packet{Type: Event, Attachments: [][]byte{{1}}}, `51-`},
		{Packet{Type: Ack, HasID: true, ID: 3, Attachments: [][]byte{{1}, {2}}}, `62-3`},
		{Packet{Type: BinaryEvent}, `50-`},
		{Packet{Type: BinaryAck, Namespace: "/x", HasID: true, ID: 9, Attachments: make([][]byte, 10)}, `610-/x,9`},
	}
	for _, tt := range tests {
		if got := string(AppendHeader([]byte{}, &tt.p)); got != tt.want {
			t.Errorf("AppendHeader(%s) = %s, want %s", fmtPacket(&tt.p), got, tt.want)
		}
	}
	p := Packet{Type: Event, Data: []byte(`["x"]`)}
	if got := string(Append([]byte("4"), &p)); got != `42["x"]` {
		t.Errorf("Append does not append to dst: %s", got)
	}
}

func TestNewEventAndAck(t *testing.T) {
	p, err := NewEvent("/", "chat", []any{map[string]any{"text": "hello world", "n": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(Append(nil, &p)); got != `2["chat",{"n":1,"text":"hello world"}]` {
		t.Errorf("NewEvent encodes as %s", got)
	}
	if _, err := NewEvent("/", "x", []any{make(chan int)}); err == nil {
		t.Errorf("NewEvent with a channel argument succeeded")
	}
	if _, err := NewAck("/", 1, []any{json.RawMessage(`{`)}); err == nil {
		t.Errorf("NewAck with invalid raw JSON succeeded")
	}
	a, err := NewAck("/", 7, []any{"a", 1})
	if err != nil {
		t.Fatal(err)
	}
	if a.Type != Ack || !a.HasID || a.ID != 7 || a.Attachments != nil || string(a.Data) != `["a",1]` {
		t.Errorf("NewAck = %s", fmtPacket(&a))
	}
}

func TestDecoderNonBinaryPassThrough(t *testing.T) {
	var d Decoder
	for _, text := range []string{`0`, `1/admin,`, `2["x"]`, `31[]`, `4"no"`, `2["x",{"_placeholder":true,"num":0}]`} {
		p, err := d.Add([]byte(text), false)
		if err != nil || p == nil {
			t.Fatalf("Add(%s) = %v, %v", text, p, err)
		}
		if got := string(Append(nil, p)); got != text {
			t.Errorf("Add(%s) re-encodes as %s", text, got)
		}
	}
}

func TestDecoderBinaryEvent(t *testing.T) {
	var d Decoder
	text := `52-/admin,7["up",{"a":{"_placeholder":true,"num":1},"b":[{"_placeholder":true,"num":0}]}]`
	p, err := d.Add([]byte(text), false)
	if p != nil || err != nil {
		t.Fatalf("Add(text) = %v, %v", p, err)
	}
	if d.Awaiting() != 2 {
		t.Fatalf("Awaiting = %d, want 2", d.Awaiting())
	}
	a0, a1 := []byte("zero"), []byte("one")
	if p, err = d.Add(a0, true); p != nil || err != nil {
		t.Fatalf("Add(first) = %v, %v", p, err)
	}
	if d.Awaiting() != 1 {
		t.Fatalf("Awaiting = %d, want 1", d.Awaiting())
	}
	if p, err = d.Add(a1, true); p == nil || err != nil {
		t.Fatalf("Add(second) = %v, %v", p, err)
	}
	want := Packet{Type: BinaryEvent, Namespace: "/admin", HasID: true, ID: 7, Data: []byte(text[len(`52-/admin,7`):]), Attachments: [][]byte{a0, a1}}
	if !samePacket(p, &want) {
		t.Fatalf("got %s, want %s", fmtPacket(p), fmtPacket(&want))
	}
	if &p.Attachments[0][0] != &a0[0] {
		t.Errorf("attachments are not kept as given")
	}
	if got := string(Append(nil, p)); got != text {
		t.Errorf("re-encoded as %s", got)
	}
	var v struct {
		A []byte   `json:"a"`
		B [][]byte `json:"b"`
	}
	name, args, err := EventName(p)
	if err != nil || name != "up" {
		t.Fatalf("EventName = %q, %v", name, err)
	}
	if err := args.Decode(0, &v); err != nil {
		t.Fatal(err)
	}
	if string(v.A) != "one" || len(v.B) != 1 || string(v.B[0]) != "zero" {
		t.Errorf("decoded %+v", v)
	}
	// The decoder is ready for the next packet.
	if p, err := d.Add([]byte(`2["next"]`), false); p == nil || err != nil {
		t.Fatalf("Add(next) = %v, %v", p, err)
	}
}

func TestDecoderZeroAttachments(t *testing.T) {
	var d Decoder
	p, err := d.Add([]byte(`50-["x",1]`), false)
	if err != nil || p == nil || p.Type != BinaryEvent {
		t.Fatalf("Add = %v, %v", p, err)
	}
	if d.Awaiting() != 0 {
		t.Fatalf("Awaiting = %d", d.Awaiting())
	}
	if _, err := d.Add([]byte{1}, true); !errors.Is(err, ErrUnexpectedBinary) {
		t.Fatalf("binary after a complete packet: %v", err)
	}
}

func TestDecoderErrors(t *testing.T) {
	type step struct {
		data   string
		binary bool
		err    error // nil: expect no error
	}
	tests := []struct {
		name  string
		d     Decoder
		steps []step
	}{
		{"binary without pending packet", Decoder{}, []step{{"\x01", true, ErrUnexpectedBinary}}},
		{"binary after complete packet", Decoder{}, []step{
			{`51-["a",{"_placeholder":true,"num":0}]`, false, nil},
			{"\x01", true, nil},
			{"\x02", true, ErrUnexpectedBinary},
		}},
		{"text while attachments are awaited", Decoder{}, []step{
			{`52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, false, nil},
			{"\x01", true, nil},
			{`2["b"]`, false, ErrInvalidPacket},
			// The decoder was reset: the late attachment is unexpected,
			// and a fresh text packet is fine.
			{"\x02", true, ErrUnexpectedBinary},
			{`2["c"]`, false, nil},
		}},
		{"placeholder beyond attachments", Decoder{}, []step{
			{`51-["a",{"_placeholder":true,"num":1}]`, false, nil},
			{"\x01", true, ErrInvalidPacket},
		}},
		{"placeholder with zero attachments", Decoder{}, []step{
			{`50-["a",{"_placeholder":true,"num":0}]`, false, ErrInvalidPacket},
		}},
		{"negative placeholder", Decoder{}, []step{
			{`51-["a",{"_placeholder":true,"num":-1}]`, false, nil},
			{"\x01", true, ErrInvalidPacket},
		}},
		{"fractional placeholder", Decoder{}, []step{
			{`51-["a",{"_placeholder":true,"num":0.5}]`, false, nil},
			{"\x01", true, ErrInvalidPacket},
		}},
		{"string placeholder num", Decoder{}, []step{
			{`51-["a",{"_placeholder":true,"num":"0"}]`, false, nil},
			{"\x01", true, ErrInvalidPacket},
		}},
		{"placeholder without num", Decoder{}, []step{
			{`51-["a",{"_placeholder":true,"n":0}]`, false, nil},
			{"\x01", true, ErrInvalidPacket},
		}},
		// Regression: a num beyond the int range used to index the
		// attachments with a negative int and panic.
		{"huge placeholder num", Decoder{}, []step{
			{`51-["a",{"_placeholder":true,"num":1e300}]`, false, nil},
			{"\x01", true, ErrInvalidPacket},
		}},
		{"huge placeholder num, zero attachments", Decoder{}, []step{
			{`50-["a",{"_placeholder":true,"num":9.3e18}]`, false, ErrInvalidPacket},
		}},
		{"nested missing placeholder", Decoder{}, []step{
			{`61-3[{"x":[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]}]`, false, nil},
			{"\x01", true, ErrInvalidPacket},
		}},
		{"default attachment limit", Decoder{}, []step{
			{`5257-["a"]`, false, ErrTooManyAttachments},
		}},
		{"default attachment limit reached", Decoder{}, []step{
			{`5256-["a"]`, false, nil},
		}},
		{"MaxAttachments", Decoder{MaxAttachments: 2}, []step{
			{`53-["a"]`, false, ErrTooManyAttachments},
			{"\x01", true, ErrUnexpectedBinary},
			{`52-["a"]`, false, nil},
			{"\x01", true, nil},
			{"\x02", true, nil},
		}},
		{"MaxBytes", Decoder{MaxBytes: 5}, []step{
			{`52-["a"]`, false, nil},
			{"abc", true, nil},
			{"def", true, ErrTooManyAttachments},
			{"ghi", true, ErrUnexpectedBinary},
		}},
		{"MaxBytes exactly", Decoder{MaxBytes: 6}, []step{
			{`52-["a"]`, false, nil},
			{"abc", true, nil},
			{"def", true, nil},
		}},
		{"MaxBytes counts per packet", Decoder{MaxBytes: 4}, []step{
			{`51-["a"]`, false, nil},
			{"abcd", true, nil},
			{`51-["b"]`, false, nil},
			{"efgh", true, nil},
		}},
		{"invalid text", Decoder{}, []step{{`2{}`, false, ErrInvalidPacket}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.d
			for i, s := range tt.steps {
				_, err := d.Add([]byte(s.data), s.binary)
				if s.err == nil && err != nil {
					t.Fatalf("step %d Add(%q, %v): %v", i, s.data, s.binary, err)
				}
				if s.err != nil && !errors.Is(err, s.err) {
					t.Fatalf("step %d Add(%q, %v) error = %v, want %v", i, s.data, s.binary, err, s.err)
				}
				if err != nil && d.Awaiting() != 0 {
					t.Fatalf("step %d: Awaiting = %d after an error", i, d.Awaiting())
				}
			}
		})
	}
}

func TestDecoderReset(t *testing.T) {
	var d Decoder
	if _, err := d.Add([]byte(`51-["a"]`), false); err != nil {
		t.Fatal(err)
	}
	d.Reset()
	if d.Awaiting() != 0 {
		t.Fatalf("Awaiting = %d after Reset", d.Awaiting())
	}
	if _, err := d.Add([]byte{1}, true); !errors.Is(err, ErrUnexpectedBinary) {
		t.Fatalf("binary after Reset: %v", err)
	}
}
