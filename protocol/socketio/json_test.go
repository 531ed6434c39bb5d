package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplitArray(t *testing.T) {
	tests := []struct {
		data string
		want []string
	}{
		{`[]`, []string{}},
		{` [ ] `, []string{}},
		{"[\n]", []string{}},
		{`[1]`, []string{`1`}},
		{`[1,2,3]`, []string{`1`, `2`, `3`}},
		{` [ 1 , "x" , true ,null,false ] `, []string{`1`, `"x"`, `true`, `null`, `false`}},
		{`[-1.5e10,0,1E-3]`, []string{`-1.5e10`, `0`, `1E-3`}},
		{`["a,b","c]d","e}f","g[h","i{j"]`, []string{`"a,b"`, `"c]d"`, `"e}f"`, `"g[h"`, `"i{j"`}},
		{`["a\"b,c",1]`, []string{`"a\"b,c"`, `1`}},
		{`["\\",1]`, []string{`"\\"`, `1`}},
		{`["\\\"]",2]`, []string{`"\\\"]"`, `2`}},
		{`["\u0022,",3]`, []string{`"\u0022,"`, `3`}},
		{`[[1,[2,3]],{"a":[4,{"b":"]}"}]},null]`, []string{`[1,[2,3]]`, `{"a":[4,{"b":"]}"}]}`, `null`}},
		{`[{"k,\"}":"v]"},[]]`, []string{`{"k,\"}":"v]"}`, `[]`}},
		{`[{},[],""]`, []string{`{}`, `[]`, `""`}},
		{"[\t\"x\"\r\n,\n{ \"a\" : 1 }\t]", []string{`"x"`, `{ "a" : 1 }`}},
		{`["chat",{"text":"hello world","n":1}]`, []string{`"chat"`, `{"text":"hello world","n":1}`}},
		{`["日本","€"]`, []string{`"日本"`, `"€"`}},
	}
	for _, tt := range tests {
		got, err := SplitArray([]byte(tt.data))
		if err != nil {
			t.Errorf("SplitArray(%s): %v", tt.data, err)
			continue
		}
		if got == nil || len(got) != len(tt.want) {
			t.Errorf("SplitArray(%s) = %q, want %q", tt.data, got, tt.want)
			continue
		}
		for i := range got {
			if string(got[i]) != tt.want[i] {
				t.Errorf("SplitArray(%s)[%d] = %s, want %s", tt.data, i, got[i], tt.want[i])
			}
		}
		// Cross-check with encoding/json.
		var raw []json.RawMessage
		if err := json.Unmarshal([]byte(tt.data), &raw); err != nil || len(raw) != len(got) {
			t.Errorf("encoding/json disagrees on %s: %d elements, %v", tt.data, len(raw), err)
		}
	}
}

func TestSplitArrayInvalid(t *testing.T) {
	for _, data := range []string{``, ` `, `{}`, `"x"`, `1`, `null`, `[`, `[1`, `[1,`, `["x`, `["x\"]`, `[1 2]`, `[[1]`, `[{"a":1}`} {
		if got, err := SplitArray([]byte(data)); !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("SplitArray(%q) = %q, %v; want ErrInvalidPacket", data, got, err)
		}
	}
}

func TestSplitArrayAliases(t *testing.T) {
	data := []byte(`["a",1]`)
	elems, err := SplitArray(data)
	if err != nil {
		t.Fatal(err)
	}
	data[2] = 'b'
	if string(elems[0]) != `"b"` {
		t.Fatalf("elements do not alias data: %s", elems[0])
	}
}

// AppendString output is checked by decoding it with encoding/json, which
// maps every invalid UTF-8 byte to U+FFFD just as AppendString should.
func TestAppendString(t *testing.T) {
	tests := []struct {
		in   string
		want string // exact encoding; empty: only check the round trip
	}{
		{"", `""`},
		{"hello world", `"hello world"`},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
		{`\"`, `"\\\""`},
		{"a\nb\rc\td", `"a\nb\rc\td"`},
		{"\x00", `"\u0000"`},
		{"\x01\x08\x0c\x1f", `"\u0001\u0008\u000c\u001f"`},
		{"\x1e", `"\u001e"`},
		{"\x7f", "\"\x7f\""},
		{" ~", `" ~"`},
		{"€ 日本 🎉", `"€ 日本 🎉"`},
		{"\ufffd", "\"\ufffd\""},
		{"a\xffb", `"a\ufffdb"`},
		{"\xc3", `"\ufffd"`},
		{"\xe2\x82", `"\ufffd\ufffd"`},
		{"\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`}, // a UTF-16 surrogate is not UTF-8
		{"ok\xf0\x9f\x8e", `"ok\ufffd\ufffd\ufffd"`},
		{"</script>&<>", ""},
		{"\u2028\u2029", ""},
		{strings.Repeat("x\"\\\n\x01\xff€", 50), ""},
	}
	for _, tt := range tests {
		got := AppendString([]byte("pre"), tt.in)
		if !bytes.HasPrefix(got, []byte("pre")) {
			t.Fatalf("AppendString does not append to dst")
		}
		got = got[3:]
		if tt.want != "" && string(got) != tt.want {
			t.Errorf("AppendString(%q) = %s, want %s", tt.in, got, tt.want)
		}
		if !json.Valid(got) {
			t.Errorf("AppendString(%q) = %s is not valid JSON", tt.in, got)
			continue
		}
		if !utf8.Valid(got) {
			t.Errorf("AppendString(%q) = %q is not valid UTF-8", tt.in, got)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("json.Unmarshal(%s): %v", got, err)
			continue
		}
		std, _ := json.Marshal(tt.in)
		var want string
		_ = json.Unmarshal(std, &want)
		if back != want {
			t.Errorf("AppendString(%q) decodes to %q, encoding/json gives %q", tt.in, back, want)
		}
		if utf8.ValidString(tt.in) && back != tt.in {
			t.Errorf("AppendString(%q) decodes to %q", tt.in, back)
		}
	}
}

type blob []byte

type namedByte byte

type chatMsg struct {
	Text string `json:"text"`
	N    int    `json:"n"`
}

func TestAppendArgs(t *testing.T) {
	tests := []struct {
		name string
		args []any
		want string
		att  [][]byte
	}{
		{"none", nil, `[]`, nil},
		{"scalars", []any{nil, "s", true, false, 1, int64(-2), int32(3), uint64(1 << 63), uint32(5), 1.5, 1e21, -0.0}, `[null,"s",true,false,1,-2,3,9223372036854775808,5,1.5,1e+21,0]`, nil},
		{"floats as JSON.stringify writes them", []any{1e6, 1.7965702654237133e18, 1e-7, 0.000001, 123456789.125, -2.5e-8, 1.5e300}, `[1000000,1796570265423713300,1e-7,0.000001,123456789.125,-2.5e-8,1.5e+300]`, nil},
		{"NaN and Inf", []any{math.NaN(), math.Inf(1), math.Inf(-1)}, `[null,null,null]`, nil},
		{"NaN nested", []any{[]any{math.NaN()}, map[string]any{"x": math.Inf(1)}}, `[[null],{"x":null}]`, nil},
		{"struct", []any{chatMsg{"hi", 2}}, `[{"text":"hi","n":2}]`, nil},
		{"pointer nil", []any{(*chatMsg)(nil)}, `[null]`, nil},
		{"map sorted keys", []any{map[string]any{"b": 1, "a": "x", "c": []any{}}}, `[{"a":"x","b":1,"c":[]}]`, nil},
		{"string escaping", []any{"q\"\\\n"}, `["q\"\\\n"]`, nil},
		{"map key escaping", []any{map[string]any{"k\"": 1}}, `[{"k\"":1}]`, nil},
		{"raw message", []any{json.RawMessage(`{"a": [1, 2]}`)}, `[{"a": [1, 2]}]`, nil},
		{"top-level bytes", []any{[]byte{1, 2}}, `[{"_placeholder":true,"num":0}]`, [][]byte{{1, 2}}},
		{"empty bytes", []any{[]byte{}}, `[{"_placeholder":true,"num":0}]`, [][]byte{{}}},
		{"bytes in slice", []any{"a", []any{[]byte{1}, "b", []any{[]byte{2}}}}, `["a",[{"_placeholder":true,"num":0},"b",[{"_placeholder":true,"num":1}]]]`, [][]byte{{1}, {2}}},
		{"bytes in map", []any{map[string]any{"z": []byte{1}, "a": []byte{2}, "m": map[string]any{"x": []byte{3}}}},
			`[{"a":{"_placeholder":true,"num":0},"m":{"x":{"_placeholder":true,"num":1}},"z":{"_placeholder":true,"num":2}}]`,
			[][]byte{{2}, {3}, {1}}},
		{"named byte slice", []any{blob{9, 8}}, `[{"_placeholder":true,"num":0}]`, [][]byte{{9, 8}}},
		{"slice of named bytes", []any{[]namedByte{7}}, `[{"_placeholder":true,"num":0}]`, [][]byte{{7}}},
		{"named byte slice nested", []any{[]any{blob{1}}, map[string]any{"b": blob{2}}}, `[[{"_placeholder":true,"num":0}],{"b":{"_placeholder":true,"num":1}}]`, [][]byte{{1}, {2}}},
		{"bytes inside struct are base64", []any{struct{ B []byte }{[]byte{1, 2, 3}}}, `[{"B":"AQID"}]`, nil},
		{"raw message is not binary", []any{json.RawMessage(`"x"`)}, `["x"]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, att, err := AppendArgs([]byte("x"), tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "x"+tt.want {
				t.Fatalf("AppendArgs = %s, want x%s", got, tt.want)
			}
			if !json.Valid(got[1:]) {
				t.Fatalf("invalid JSON %s", got[1:])
			}
			if !reflect.DeepEqual(att, tt.att) {
				t.Fatalf("attachments = %v, want %v", att, tt.att)
			}
			if hb := HasBinary(tt.args); hb != (len(tt.att) > 0) {
				t.Errorf("HasBinary = %v with %d attachments", hb, len(tt.att))
			}

			// AppendEvent is the same array with the name in front.
			ev, att2, err := AppendEvent(nil, "ev", tt.args)
			if err != nil {
				t.Fatal(err)
			}
			wantEv := `["ev"]`
			if tt.want != `[]` {
				wantEv = `["ev",` + tt.want[1:]
			}
			if string(ev) != wantEv {
				t.Errorf("AppendEvent = %s, want %s", ev, wantEv)
			}
			if !reflect.DeepEqual(att2, tt.att) {
				t.Errorf("AppendEvent attachments = %v, want %v", att2, tt.att)
			}
		})
	}
}

func TestAppendArgsErrors(t *testing.T) {
	for _, args := range [][]any{
		{json.RawMessage(`{`)},
		{json.RawMessage(``)},
		{"ok", []any{json.RawMessage(`[1,]`)}},
		{map[string]any{"a": json.RawMessage(`x`)}},
		{make(chan int)},
		{func() {}},
		{float32(math.NaN())},
		{[]float64{math.NaN()}},
	} {
		dst := []byte("keep")
		got, att, err := AppendArgs(dst, args)
		if err == nil {
			t.Errorf("AppendArgs(%#v) succeeded: %s", args, got)
			continue
		}
		if string(got) != "keep" || att != nil {
			t.Errorf("AppendArgs(%#v) error returned %q, %v; want dst unchanged", args, got, att)
		}
		got, _, err = AppendEvent(dst, "e", args)
		if err == nil || string(got) != "keep" {
			t.Errorf("AppendEvent(%#v) = %q, %v", args, got, err)
		}
	}
}

func TestAppendEvent(t *testing.T) {
	got, att, err := AppendEvent(nil, "chat", []any{map[string]any{"text": "hello world", "n": 1}})
	if err != nil || att != nil {
		t.Fatal(err, att)
	}
	if string(got) != `["chat",{"n":1,"text":"hello world"}]` {
		t.Errorf("AppendEvent = %s", got)
	}
	got, _, _ = AppendEvent(nil, "a\"b\x00\xff", nil)
	if string(got) != `["a\"b\u0000\ufffd"]` {
		t.Errorf("AppendEvent escapes the name as %s", got)
	}
}

func TestHasBinary(t *testing.T) {
	a := NewArgs([][]byte{[]byte(`{"_placeholder":true,"num":0}`)}, [][]byte{{1}})
	tests := []struct {
		args []any
		want bool
	}{
		{nil, false},
		{[]any{"x", 1, json.RawMessage(`"AQ=="`)}, false},
		{[]any{[]byte{}}, true},
		{[]any{[]any{1, []any{[]byte{1}}}}, true},
		{[]any{map[string]any{"a": map[string]any{"b": []byte{1}}}}, true},
		{[]any{a}, true},
		{[]any{NewArgs([][]byte{[]byte(`1`)}, nil)}, false},
	}
	for _, tt := range tests {
		if got := HasBinary(tt.args); got != tt.want {
			t.Errorf("HasBinary(%#v) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

func mustArgs(t *testing.T, data string, att ...[]byte) Args {
	t.Helper()
	a, err := ParseArgs([]byte(data), att)
	if err != nil {
		t.Fatalf("ParseArgs(%s): %v", data, err)
	}
	return a
}

func TestParseArgs(t *testing.T) {
	a, err := ParseArgs(nil, nil)
	if err != nil || a.Len() != 0 {
		t.Fatalf("ParseArgs(nil) = %v, %v", a, err)
	}
	for _, bad := range []string{`{}`, `"x"`, `[1`, ``} {
		if _, err := ParseArgs([]byte(bad), nil); !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("ParseArgs(%q) error = %v", bad, err)
		}
	}
	a = mustArgs(t, `["chat",{"text":"hello world","n":1},[1,2]]`, []byte{1})
	if a.Len() != 3 {
		t.Fatalf("Len = %d", a.Len())
	}
	if string(a.Raw(1)) != `{"text":"hello world","n":1}` || a.Raw(-1) != nil || a.Raw(3) != nil {
		t.Errorf("Raw: %s %s %s", a.Raw(1), a.Raw(-1), a.Raw(3))
	}
	if len(a.Attachments()) != 1 {
		t.Errorf("Attachments = %v", a.Attachments())
	}
	if s := a.Slice(1); s.Len() != 2 || string(s.Raw(0)) != `{"text":"hello world","n":1}` || len(s.Attachments()) != 1 {
		t.Errorf("Slice(1) = %v", s)
	}
	if s := a.Slice(3); s.Len() != 0 {
		t.Errorf("Slice(3).Len() = %d", s.Len())
	}
	if s := a.Slice(10); s.Len() != 0 {
		t.Errorf("Slice(10).Len() = %d", s.Len())
	}
}

func TestArgsDecode(t *testing.T) {
	a := mustArgs(t, `["chat",{"text":"hello world","n":1},42,null,"AQID",[1,"x"],{"a":{"b":true}}]`)

	var s string
	if err := a.Decode(0, &s); err != nil || s != "chat" {
		t.Errorf("Decode string = %q, %v", s, err)
	}
	var m chatMsg
	if err := a.Decode(1, &m); err != nil || m != (chatMsg{"hello world", 1}) {
		t.Errorf("Decode struct = %+v, %v", m, err)
	}
	var n int
	if err := a.Decode(2, &n); err != nil || n != 42 {
		t.Errorf("Decode int = %d, %v", n, err)
	}
	var p *chatMsg = &chatMsg{}
	if err := a.Decode(3, &p); err != nil || p != nil {
		t.Errorf("Decode null = %v, %v", p, err)
	}
	var b []byte
	if err := a.Decode(4, &b); err != nil || !bytes.Equal(b, []byte{1, 2, 3}) {
		t.Errorf("Decode base64 string into []byte = %v, %v", b, err)
	}
	var v any
	if err := a.Decode(5, &v); err != nil || !reflect.DeepEqual(v, []any{1.0, "x"}) {
		t.Errorf("Decode any = %#v, %v", v, err)
	}
	if err := a.Decode(6, &v); err != nil || !reflect.DeepEqual(v, map[string]any{"a": map[string]any{"b": true}}) {
		t.Errorf("Decode any = %#v, %v", v, err)
	}
	if err := a.Decode(0, &n); err == nil {
		t.Errorf("Decode string into int succeeded")
	}
	for _, i := range []int{-1, 7, 100} {
		if err := a.Decode(i, &v); !errors.Is(err, ErrNoArg) {
			t.Errorf("Decode(%d) error = %v, want ErrNoArg", i, err)
		}
	}
	if s := a.String(0); s != "chat" {
		t.Errorf("String(0) = %q", s)
	}
	for _, i := range []int{1, 2, 3, 7, -1} {
		if s := a.String(i); s != "" {
			t.Errorf("String(%d) = %q, want empty", i, s)
		}
	}
}

func TestArgsDecodeBinary(t *testing.T) {
	att := [][]byte{[]byte("zero"), []byte("one"), []byte("two")}
	a := mustArgs(t, `[{"_placeholder":true,"num":1},`+
		`{"name":"f","data":{"_placeholder":true,"num":0}},`+
		`[{"_placeholder":true,"num":2},{"_placeholder":true,"num":0}],`+
		`{"files":{"a":{"_placeholder":true,"num":2}},"list":[{"data":{"_placeholder":true,"num":1}}]},`+
		`{"_placeholder":true,"num":3},`+
		`{"_placeholder":true,"num":0,"extra":1}]`, att...)

	// Top level.
	var b []byte
	if err := a.Decode(0, &b); err != nil || string(b) != "one" {
		t.Errorf("Decode []byte = %q, %v", b, err)
	}
	if &b[0] != &att[1][0] {
		t.Errorf("top-level []byte should be the attachment itself")
	}
	var anyv any
	if err := a.Decode(0, &anyv); err != nil || !reflect.DeepEqual(anyv, att[1]) {
		t.Errorf("Decode any = %#v, %v", anyv, err)
	}
	var bl blob
	if err := a.Decode(0, &bl); err != nil || string(bl) != "one" {
		t.Errorf("Decode named []byte = %q, %v", bl, err)
	}

	// Struct field.
	var file struct {
		Name string `json:"name"`
		Data []byte `json:"data"`
	}
	if err := a.Decode(1, &file); err != nil || file.Name != "f" || string(file.Data) != "zero" {
		t.Errorf("Decode struct = %+v, %v", file, err)
	}
	// Map of any.
	var m map[string]any
	if err := a.Decode(1, &m); err != nil || !reflect.DeepEqual(m["data"], []byte("zero")) {
		t.Errorf("Decode map[string]any = %#v, %v", m, err)
	}

	// Slice.
	var bs [][]byte
	if err := a.Decode(2, &bs); err != nil || len(bs) != 2 || string(bs[0]) != "two" || string(bs[1]) != "zero" {
		t.Errorf("Decode [][]byte = %q, %v", bs, err)
	}
	var anys []any
	if err := a.Decode(2, &anys); err != nil || len(anys) != 2 {
		t.Errorf("Decode []any = %#v, %v", anys, err)
	}

	// Nested maps, slices and struct fields.
	var nested struct {
		Files map[string][]byte `json:"files"`
		List  []struct {
			Data []byte `json:"data"`
		} `json:"list"`
	}
	if err := a.Decode(3, &nested); err != nil || string(nested.Files["a"]) != "two" || len(nested.List) != 1 || string(nested.List[0].Data) != "one" {
		t.Errorf("Decode nested = %+v, %v", nested, err)
	}
	if err := a.Decode(3, &anyv); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"files": map[string]any{"a": []byte("two")},
		"list":  []any{map[string]any{"data": []byte("one")}},
	}
	if !reflect.DeepEqual(anyv, want) {
		t.Errorf("Decode nested any = %#v", anyv)
	}

	// A placeholder pointing past the attachments.
	if err := a.Decode(4, &anyv); !errors.Is(err, ErrInvalidPacket) {
		t.Errorf("Decode of a missing attachment: %v", err)
	}
	if _, err := a.Values(); !errors.Is(err, ErrInvalidPacket) {
		t.Errorf("Values with a missing attachment: %v", err)
	}
	if _, err := a.MarshalJSON(); err == nil {
		t.Errorf("MarshalJSON with a missing attachment succeeded")
	}

	// An object with more keys is not a placeholder.
	if err := a.Decode(5, &anyv); err != nil || !reflect.DeepEqual(anyv, map[string]any{"_placeholder": true, "num": 0.0, "extra": 1.0}) {
		t.Errorf("Decode non-placeholder = %#v, %v", anyv, err)
	}

	// Without attachments, placeholders are plain objects.
	plain := mustArgs(t, `[{"_placeholder":true,"num":0}]`)
	if err := plain.Decode(0, &anyv); err != nil || !reflect.DeepEqual(anyv, map[string]any{"_placeholder": true, "num": 0.0}) {
		t.Errorf("Decode without attachments = %#v, %v", anyv, err)
	}
}

func TestArgsValuesAndMarshalJSON(t *testing.T) {
	a := mustArgs(t, `["x",1.5,{"b":{"_placeholder":true,"num":0}},[true,null]]`, []byte{1, 2, 3})
	vals, err := a.Values()
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"x", 1.5, map[string]any{"b": []byte{1, 2, 3}}, []any{true, nil}}
	if !reflect.DeepEqual(vals, want) {
		t.Errorf("Values = %#v", vals)
	}
	js, err := a.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if string(js) != `["x",1.5,{"b":"AQID"},[true,null]]` {
		t.Errorf("MarshalJSON = %s", js)
	}
	// Args embedded in a struct marshal through MarshalJSON.
	out, err := json.Marshal(struct{ A Args }{a})
	if err != nil || string(out) != `{"A":["x",1.5,{"b":"AQID"},[true,null]]}` {
		t.Errorf("json.Marshal(struct{A Args}) = %s, %v", out, err)
	}
	empty, err := Args{}.MarshalJSON()
	if err != nil || string(empty) != `[]` {
		t.Errorf("empty MarshalJSON = %s, %v", empty, err)
	}
}

func TestArgsItemsRenumbers(t *testing.T) {
	var d Decoder
	text := `52-5["fwd",{"_placeholder":true,"num":1},"mid",{"k":[{"_placeholder":true,"num":0}]},{"plain":1}]`
	if _, err := d.Add([]byte(text), false); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Add([]byte("A"), true); err != nil {
		t.Fatal(err)
	}
	p, err := d.Add([]byte("B"), true)
	if err != nil || p == nil {
		t.Fatal(p, err)
	}
	name, args, err := EventName(p)
	if err != nil || name != "fwd" {
		t.Fatal(name, err)
	}
	items := args.Items()
	if len(items) != 4 {
		t.Fatalf("Items = %#v", items)
	}
	if _, ok := items[1].(json.RawMessage); !ok {
		t.Errorf("item without placeholders should stay raw JSON, got %T", items[1])
	}
	out, err := NewEvent("/", "fwd", items)
	if err != nil {
		t.Fatal(err)
	}
	wantData := `["fwd",{"_placeholder":true,"num":0},"mid",{"k":[{"_placeholder":true,"num":1}]},{"plain":1}]`
	if out.Type != BinaryEvent || string(out.Data) != wantData {
		t.Errorf("re-encoded %s %s, want %s", out.Type, out.Data, wantData)
	}
	if len(out.Attachments) != 2 || string(out.Attachments[0]) != "B" || string(out.Attachments[1]) != "A" {
		t.Errorf("re-encoded attachments %q, want [B A]", out.Attachments)
	}

	// After Slice, only the attachments still referenced are sent.
	sub := args.Slice(2).Items()
	ack, err := NewAck("/", 5, sub)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(Append(nil, &ack)); got != `61-5[{"k":[{"_placeholder":true,"num":0}]},{"plain":1}]` {
		t.Errorf("Slice(2).Items() re-encoded as %s", got)
	}
	if len(ack.Attachments) != 1 || string(ack.Attachments[0]) != "A" {
		t.Errorf("attachments %q, want [A]", ack.Attachments)
	}

	// Args passed as one argument: an array of the decoded values.
	nested, att, err := AppendArgs(nil, []any{args})
	if err != nil {
		t.Fatal(err)
	}
	if string(nested) != `[[{"_placeholder":true,"num":0},"mid",{"k":[{"_placeholder":true,"num":1}]},{"plain":1}]]` || len(att) != 2 || string(att[0]) != "B" {
		t.Errorf("AppendArgs(Args) = %s, %q", nested, att)
	}

	// A placeholder that does not resolve stays raw.
	bad := mustArgs(t, `[{"_placeholder":true,"num":9}]`, []byte("x"))
	if raw, ok := bad.Items()[0].(json.RawMessage); !ok || string(raw) != `{"_placeholder":true,"num":9}` {
		t.Errorf("unresolved placeholder item = %#v", bad.Items()[0])
	}
}

func TestEventName(t *testing.T) {
	p := Packet{Type: Event, Data: []byte(`["chat",1,2]`)}
	name, args, err := EventName(&p)
	if err != nil || name != "chat" || args.Len() != 2 {
		t.Fatalf("EventName = %q, %v, %v", name, args, err)
	}
	for _, data := range []string{``, `[]`, `[1]`, `{}`, `[{"a":1}]`} {
		p := Packet{Type: Event, Data: []byte(data)}
		if data == "" {
			p.Data = nil
		}
		if _, _, err := EventName(&p); !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("EventName(%q) error = %v", data, err)
		}
	}
}

func TestArgsDecodeBinaryGenericContainers(t *testing.T) {
	a := mustArgs(t, `[{"b":{"_placeholder":true,"num":0}},[1,{"_placeholder":true,"num":0}]]`, []byte{7})
	m := map[string]any{"keep": 1.0}
	if err := a.Decode(0, &m); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, map[string]any{"keep": 1.0, "b": []byte{7}}) {
		t.Errorf("Decode into a non-nil map[string]any = %#v (want a merge, like json.Unmarshal)", m)
	}
	s := []any{"old", "old", "old"}
	if err := a.Decode(1, &s); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, []any{1.0, []byte{7}}) {
		t.Errorf("Decode into []any = %#v", s)
	}
	// A mismatched container falls back to encoding/json's error.
	if err := a.Decode(1, &m); err == nil {
		t.Errorf("Decode of an array into a map succeeded")
	}
}
