package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// Real traffic and near misses.
var packetSeeds = []string{
	`0`,
	`0{"token":"123"}`,
	`0/admin,`,
	`0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}`,
	`1`,
	`1/admin,`,
	`2["foo"]`,
	`2["hey","Jude"]`,
	`2/admin,["bar"]`,
	`212["foo"]`,
	`2/admin,12["ev",{"a":[1,2]}]`,
	`2["chat",{"text":"hello world","n":1}]`,
	`3/admin,13["bar"]`,
	`312[]`,
	`4{"message":"Not authorized"}`,
	`4"Not authorized"`,
	`51-["baz",{"_placeholder":true,"num":0}]`,
	`451-["x",{"_placeholder":true,"num":0}]`,
	`52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`,
	`61-15["bar",{"_placeholder":true,"num":0}]`,
	`61-/admin,1[{"_placeholder":true,"num":0}]`,
	`51-["a",{"_placeholder":true,"num":1e300}]`,
	`50-["a",{"x":[{"_placeholder":true,"num":-1}]}]`,
	`2{}`,
	`2abc["x"]`,
	`4abc`,
	`29007199254740992["x"]`,
	`2["a\"b,c",[1,{"d":"]"}]]`,
}

func fillAttachments(p *Packet, n int) {
	p.Attachments = make([][]byte, n)
	for i := range p.Attachments {
		p.Attachments[i] = []byte{byte(i)}
	}
}

// FuzzParse: Parse never panics, and every packet it accepts re-encodes into
// text that parses to the same packet and attachment count.
func FuzzParse(f *testing.F) {
	for _, s := range packetSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		p, want, err := Parse(text)
		if err != nil {
			if !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if p.Type > BinaryAck {
			t.Fatalf("type %d out of range", p.Type)
		}
		if want < 0 || (want > 0 && !p.Type.IsBinary()) {
			t.Fatalf("want = %d for %v", want, p.Type)
		}
		if p.Namespace == "" || p.Namespace[0] != '/' {
			t.Fatalf("namespace %q", p.Namespace)
		}
		if p.HasID && p.ID > maxAckID {
			t.Fatalf("ack id %d beyond 2^53-1", p.ID)
		}
		if p.Data != nil && !json.Valid(p.Data) {
			t.Fatalf("accepted invalid JSON %q", p.Data)
		}
		if p.Type == Event || p.Type == BinaryEvent {
			if _, _, err := EventName(&p); err != nil {
				t.Fatalf("EventName of accepted %q: %v", text, err)
			}
		}
		q := p
		if p.Type.IsBinary() {
			fillAttachments(&q, want)
		}
		enc := Append(nil, &q)
		p2, want2, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-encoded %q (from %q) does not parse: %v", enc, text, err)
		}
		if want2 != want || !samePacket(&p, &p2) {
			t.Fatalf("round trip of %q via %q: %s/%d, was %s/%d", text, enc, fmtPacket(&p2), want2, fmtPacket(&p), want)
		}
		if enc2 := Append(nil, &q); !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable encoding")
		}
	})
}

// FuzzDecoder feeds a text message and binary messages in an order chosen
// by ops: 0xff sends the text again, any other byte a binary message of
// op%16 bytes cut from blob. Properties: no panic, only the documented
// errors, Awaiting within limits, and a completed packet re-encodes into
// messages a fresh decoder turns back into the same packet.
func FuzzDecoder(f *testing.F) {
	for _, s := range packetSeeds {
		f.Add([]byte(s), []byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{4, 2})
	}
	f.Add([]byte(`52-["x",{"_placeholder":true,"num":1}]`), []byte("abcdefgh"), []byte{3, 0xff, 3, 5})
	f.Add([]byte(`2["x"]`), []byte{}, []byte{1})
	f.Fuzz(func(t *testing.T, text, blob, ops []byte) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		d := Decoder{MaxAttachments: 8, MaxBytes: 64}
		feed := func(data []byte, binary bool) {
			p, err := d.Add(data, binary)
			if err != nil {
				if p != nil {
					t.Fatalf("packet and error together")
				}
				if !errors.Is(err, ErrInvalidPacket) && !errors.Is(err, ErrUnexpectedBinary) && !errors.Is(err, ErrTooManyAttachments) {
					t.Fatalf("undocumented error %v", err)
				}
				if d.Awaiting() != 0 {
					t.Fatalf("Awaiting = %d after an error", d.Awaiting())
				}
				return
			}
			if a := d.Awaiting(); a < 0 || a > d.MaxAttachments {
				t.Fatalf("Awaiting = %d", a)
			}
			if p == nil {
				if d.Awaiting() == 0 {
					t.Fatalf("no packet and nothing awaited")
				}
				return
			}
			if d.Awaiting() != 0 {
				t.Fatalf("packet completed while %d attachments are awaited", d.Awaiting())
			}
			checkRoundTrip(t, p)
		}
		feed(text, false)
		for _, op := range ops {
			if op == 0xff {
				feed(text, false)
				continue
			}
			n := min(int(op%16), len(blob))
			chunk := blob[:n]
			blob = blob[n:]
			feed(chunk, true)
		}
	})
}

// checkRoundTrip encodes p as the messages a sender would produce and
// decodes them with a fresh Decoder.
func checkRoundTrip(t *testing.T, p *Packet) {
	t.Helper()
	if !p.Type.IsBinary() && len(p.Attachments) > 0 {
		t.Fatalf("attachments on a %v packet", p.Type)
	}
	var d Decoder
	enc := Append(nil, p)
	got, err := d.Add(enc, false)
	for _, a := range p.Attachments {
		if err != nil || got != nil {
			break
		}
		got, err = d.Add(a, true)
	}
	if err != nil {
		t.Fatalf("re-encoded %q does not decode: %v", enc, err)
	}
	if got == nil {
		t.Fatalf("re-encoded %q did not complete", enc)
	}
	if !samePacket(got, p) {
		t.Fatalf("round trip via %q: %s, was %s", enc, fmtPacket(got), fmtPacket(p))
	}
}

// FuzzSplitArray: no panic on any input; on valid JSON it agrees with
// encoding/json element for element.
func FuzzSplitArray(f *testing.F) {
	for _, s := range []string{
		`[]`, `["chat",{"text":"hello world","n":1}]`, `["a\"b,c",[1,{"d":"]"}]]`,
		`[ 1 , "x" , true ]`, `["\\",1]`, `[[[]]]`, `[1,]`, `[,`, `["x`, `{}`, `["\`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		elems, err := SplitArray(data)
		if err == nil {
			for _, e := range elems {
				if len(e) > 0 && !isSubslice(data, e) { // empty only on invalid JSON
					t.Fatalf("element %q is not a sub-slice of the input", e)
				}
			}
		}
		if !json.Valid(data) {
			return
		}
		var raw []json.RawMessage
		jerr := json.Unmarshal(data, &raw)
		isArray := firstNonSpace(data) == '['
		if isArray != (jerr == nil) {
			t.Fatalf("encoding/json: %v, but first byte %q", jerr, firstNonSpace(data))
		}
		if !isArray {
			if !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("SplitArray(%q) = %q, %v on a non-array", data, elems, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("SplitArray(%q): %v", data, err)
		}
		if len(elems) != len(raw) {
			t.Fatalf("SplitArray(%q) = %d elements, encoding/json %d", data, len(elems), len(raw))
		}
		for i := range raw {
			if !bytes.Equal(elems[i], raw[i]) {
				t.Fatalf("element %d = %q, encoding/json %q", i, elems[i], raw[i])
			}
		}
	})
}

func isSubslice(outer, inner []byte) bool {
	for i := range outer {
		if &outer[i] == &inner[0] {
			return i+len(inner) <= len(outer)
		}
	}
	return false
}

// FuzzArgs: ParseArgs and Decode into any never panic; whenever Values
// succeeds, Items re-encodes into arguments with the same values, and
// MarshalJSON is valid JSON.
func FuzzArgs(f *testing.F) {
	for _, s := range []string{
		`["chat",{"text":"hello world","n":1}]`,
		`[{"_placeholder":true,"num":0},{"a":[{"_placeholder":true,"num":1}]}]`,
		`[{"_placeholder":true,"num":1e300}]`,
		`[{"_placeholder":true,"num":0,"x":1},"\u005f"]`,
		`[{"\u005fplaceholder":true,"num":0}]`,
		`[1.5e300,-0,12345678901234567890,null,true,"",[],{}]`,
		`[1,`, `{}`,
	} {
		f.Add([]byte(s), []byte{1, 2, 3}, uint8(2))
	}
	f.Fuzz(func(t *testing.T, data, blob []byte, n uint8) {
		var att [][]byte
		for i := 0; i < int(n%5); i++ {
			k := min(i+1, len(blob))
			att = append(att, blob[:k])
			blob = blob[k:]
		}
		args, err := ParseArgs(data, att)
		if err != nil {
			return
		}
		for i := range args.Len() {
			var v any
			_ = args.Decode(i, &v)
			_ = args.String(i)
			var m map[string]any
			_ = args.Decode(i, &m)
			var b []byte
			_ = args.Decode(i, &b)
		}
		if !json.Valid(data) {
			return
		}
		vals, err := args.Values()
		if err != nil {
			return
		}
		js, err := args.MarshalJSON()
		if err != nil || !json.Valid(js) {
			t.Fatalf("MarshalJSON = %q, %v", js, err)
		}
		enc, att2, err := AppendArgs(nil, args.Items())
		if err != nil {
			t.Fatalf("AppendArgs(Items()): %v", err)
		}
		if !json.Valid(enc) {
			t.Fatalf("AppendArgs(Items()) = %q is not valid JSON", enc)
		}
		args2, err := ParseArgs(enc, att2)
		if err != nil {
			t.Fatalf("ParseArgs(%q): %v", enc, err)
		}
		vals2, err := args2.Values()
		if err != nil {
			t.Fatalf("Values after re-encoding %q: %v", enc, err)
		}
		if !reflect.DeepEqual(vals, vals2) {
			t.Fatalf("values %#v became %#v via %q", vals, vals2, enc)
		}
	})
}

// FuzzAppendString: the output is always valid JSON and UTF-8, and decodes
// to what encoding/json's own encoding decodes to.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "hello", "a\"b\\c", "\x00\x1f\x7f", "\xff\xfe", "€\xe2\x82", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := AppendString(nil, s)
		var got string
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("AppendString(%q) = %q: %v", s, enc, err)
		}
		std, _ := json.Marshal(s)
		var want string
		if err := json.Unmarshal(std, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("AppendString(%q) decodes to %q, want %q", s, got, want)
		}
	})
}
