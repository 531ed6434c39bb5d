package pysio

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"reflect"
	"strings"
	"testing"
)

// pickles are Debian python3's pickle.dumps, in protocols 0 to 5, of the
// python-socketio messages TestDecodePickles expects (their names before
// "-p"), and of objects the reader must refuse: an object whose
// __reduce__ calls os.system ("evil"), a set, an exception
// (testdata/pickles.json, hex).
func pickles(t testing.TB) map[string][]byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/pickles.json")
	if err != nil {
		t.Fatal(err)
	}
	var hexes map[string]string
	if err := json.Unmarshal(raw, &hexes); err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte, len(hexes))
	for k, h := range hexes {
		if out[k], err = hex.DecodeString(h); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestDecodePickles(t *testing.T) {
	big70, _ := new(big.Int).SetString("1180591620717411303424", 10)
	want := map[string]Message{
		"emit": {Method: "emit", Namespace: "/", Event: "news", Rooms: []string{"r1"}, Skip: []string{"abc"}, HostID: "h1", Pickled: true,
			Args: []any{map[string]any{"a": int64(1), "b": []any{1.5, nil, true, false, "x", []byte{0, 0xff}}, "big": big70, "neg": int64(-5), "n2": int64(-1 << 40)}}},
		"tuple": {Method: "emit", Namespace: "/chat", Event: "multi", Rooms: []string{"r1", "r2"}, Skip: []string{"s1", "s2"}, HostID: "h1", Pickled: true,
			Args: []any{"one", int64(2), []any{"three"}}},
		"disconnect": {Method: "disconnect", Namespace: "/", SID: "sid1", Pickled: true},
		"close_room": {Method: "close_room", Namespace: "/", Rooms: []string{"r1"}, Pickled: true},
		"memo": {Method: "emit", Namespace: "/", Event: "m", HostID: "h", Pickled: true,
			Args: []any{[]any{[]any{"x"}, []any{"x"}, "é☃", map[string]any{"1": "one", "None": "n"}}}},
	}
	for name, data := range pickles(t) {
		base, _, _ := strings.Cut(name, "-")
		m, err := Decode(data)
		switch {
		case base == "evil" || base == "set" || base == "obj",
			// Protocols 0 to 2 have no bytes opcode: pickle writes bytes as
			// a call of _codecs.encode (GLOBAL, REDUCE), refused as any call.
			base == "emit" && (name == "emit-p0" || name == "emit-p1" || name == "emit-p2"):
			if !errors.Is(err, ErrUnsafePickle) {
				t.Errorf("%s: err = %v, want ErrUnsafePickle", name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if w := want[base]; !reflect.DeepEqual(m, w) {
			t.Errorf("%s:\n got %#v\nwant %#v", name, m, w)
		}
	}
}

func TestDecodeJSON(t *testing.T) {
	m, err := Decode([]byte(`{"method":"emit","event":"e","data":[1,"x"],"namespace":"/n","room":null,"skip_sid":["a"],"callback":null,"host_id":"h"}`))
	if err != nil {
		t.Fatal(err)
	}
	// A list is several arguments, as python-socketio 5.16 reads it.
	want := Message{Method: "emit", Namespace: "/n", Event: "e", Args: []any{1.0, "x"}, Skip: []string{"a"}, HostID: "h"}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %#v, want %#v", m, want)
	}
	m, err = Decode([]byte(`{"method":"enter_room","sid":"s","room":"r","namespace":"/","host_id":"h"}`))
	if err != nil || m.SID != "s" || !reflect.DeepEqual(m.Rooms, []string{"r"}) {
		t.Errorf("enter_room: %#v, %v", m, err)
	}
	for _, bad := range []string{`{"event":"x"}`, `[1]`, `{"method":"disconnect"}`, `{"method":"emit"}`, `{`} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

// jsonEmits are emits as python-socketio builds them (PubSubManager.emit,
// src/socketio/pubsub_manager.py of 5.16.1 and of 5.14.2), serialized by
// the stdlib json.dumps: json_emit in gateway/cmd/gateway/testdata/
// pyworker.py, which reproduces that step, prints exactly these.
var jsonEmits = map[string]struct {
	data string
	args []any
	bin  bool
}{
	// 5.16: emit("e", {"a": 1}) wraps one argument in a list.
	"one": {`{"method": "emit", "event": "e", "data": [{"a": 1}], "binary": false, "namespace": "/", "room": null, "skip_sid": null, "callback": null, "host_id": "h"}`,
		[]any{map[string]any{"a": 1.0}}, false},
	// 5.16: emit("e", [1, 2]): one argument, a list.
	"list": {`{"method": "emit", "event": "e", "data": [[1, 2]], "binary": false, "namespace": "/", "room": null, "skip_sid": null, "callback": null, "host_id": "h"}`,
		[]any{[]any{1.0, 2.0}}, false},
	// 5.16: emit("e", ("x", 2, None)): three arguments.
	"tuple": {`{"method": "emit", "event": "e", "data": ["x", 2, null], "binary": false, "namespace": "/", "room": null, "skip_sid": null, "callback": null, "host_id": "h"}`,
		[]any{"x", 2.0, nil}, false},
	// 5.16: emit("e", None) and emit("e", ()): no argument.
	"none":  {`{"method": "emit", "event": "e", "data": [null], "binary": false, "namespace": "/", "room": null, "skip_sid": null, "callback": null, "host_id": "h"}`, nil, false},
	"empty": {`{"method": "emit", "event": "e", "data": [], "binary": false, "namespace": "/", "room": null, "skip_sid": null, "callback": null, "host_id": "h"}`, nil, false},
	// 5.16: emit("e", (b"\x00\xff", {"k": b"hi", "n": 1}, "t")): attachments
	// in base64 after the data with placeholders.
	"binary-tuple": {`{"method": "emit", "event": "e", "data": [[{"_placeholder": true, "num": 0}, {"k": {"_placeholder": true, "num": 1}, "n": 1}, "t"], "AP8=", "aGk="], "binary": true, "namespace": "/", "room": null, "skip_sid": null, "callback": null, "host_id": "h"}`,
		[]any{[]byte{0, 0xff}, map[string]any{"k": []byte("hi"), "n": 1.0}, "t"}, true},
	// 5.16: emit("e", b""): one empty binary argument.
	"binary-one": {`{"method": "emit", "event": "e", "data": [[{"_placeholder": true, "num": 0}], ""], "binary": true, "namespace": "/", "room": null, "skip_sid": null, "callback": null, "host_id": "h"}`,
		[]any{[]byte{}}, true},
	// 5.14.2 to 5.15: emit("e", {"b": b"\x01"}) unwrapped.
	"binary-515": {`{"method": "emit", "event": "e", "data": [{"b": {"_placeholder": true, "num": 0}}, "AQ=="], "binary": true, "namespace": "/", "room": null, "skip_sid": null, "callback": null, "host_id": "h"}`,
		[]any{map[string]any{"b": []byte{1}}}, true},
	// 5.14.0 and 5.14.1: emit("e", "s") unwrapped, no "binary".
	"plain-514": {`{"method": "emit", "event": "e", "data": "s", "namespace": "/", "room": null, "skip_sid": null, "callback": null, "host_id": "h"}`,
		[]any{"s"}, false},
}

func TestDecodeJSONEmits(t *testing.T) {
	for name, c := range jsonEmits {
		m, err := Decode([]byte(c.data))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(m.Args, c.args) || m.Binary != c.bin || m.Event != "e" {
			t.Errorf("%s: args %#v binary %v, want %#v %v", name, m.Args, m.Binary, c.args, c.bin)
		}
	}
	for name, bad := range map[string]string{
		"no parts":       `{"method":"emit","event":"e","data":[],"binary":true}`,
		"not a list":     `{"method":"emit","event":"e","data":"x","binary":true}`,
		"bad base64":     `{"method":"emit","event":"e","data":[[{"_placeholder":true,"num":0}],"!!"],"binary":true}`,
		"num too big":    `{"method":"emit","event":"e","data":[[{"_placeholder":true,"num":1}],"AA=="],"binary":true}`,
		"num negative":   `{"method":"emit","event":"e","data":[[{"_placeholder":true,"num":-1}],"AA=="],"binary":true}`,
		"num fraction":   `{"method":"emit","event":"e","data":[[{"_placeholder":true,"num":0.5}],"AA=="],"binary":true}`,
		"num string":     `{"method":"emit","event":"e","data":[[{"_placeholder":true,"num":"0"}],"AA=="],"binary":true}`,
		"attachment int": `{"method":"emit","event":"e","data":[[1],2],"binary":true}`,
	} {
		if m, err := Decode([]byte(bad)); err == nil {
			t.Errorf("%s: accepted as %#v", name, m)
		}
	}
	// A placeholder-looking dict without a truthy "_placeholder" is data.
	m, err := Decode([]byte(`{"method":"emit","event":"e","data":[[{"_placeholder":false,"num":0}],"AA=="],"binary":true}`))
	if err != nil || !reflect.DeepEqual(m.Args, []any{map[string]any{"_placeholder": false, "num": 0.0}}) {
		t.Errorf("false placeholder: %#v, %v", m.Args, err)
	}
}

func TestUnpickleRefuses(t *testing.T) {
	for name, data := range map[string]string{
		"GLOBAL":     "cos\nsystem\n(S'true'\ntR.",
		"truncated":  "\x80\x04\x95",
		"no stop":    "N",
		"underflow":  "a.",
		"bad memo":   "h\x05.",
		"huge bytes": "B\xff\xff\xff\x7f.",
		"two values": "NN.",
		"self list":  "]q\x00h\x00a.", // a list containing itself
	} {
		if _, err := Unpickle([]byte(data)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, data := range pickles(f) {
		f.Add(data)
	}
	f.Add([]byte(`{"method":"emit","event":"e","data":1}`))
	for _, c := range jsonEmits {
		f.Add([]byte(c.data))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			return
		}
		if m.Method == "" {
			t.Fatal("a message without a method was accepted")
		}
		if m.Method == MethodEmit && !m.Pickled {
			// No placeholder survives a binary emit, and a JSON form
			// never yields a Tuple argument (only pickles have tuples).
			checkJSONArgs(t, m.Args, m.Binary, 0)
		}
	})
}

func checkJSONArgs(t *testing.T, v any, binary bool, depth int) {
	switch x := v.(type) {
	case Tuple:
		t.Fatalf("a Tuple inside JSON arguments: %#v", x)
	case []any:
		for _, e := range x {
			checkJSONArgs(t, e, binary, depth+1)
		}
	case map[string]any:
		if binary && truthy(x["_placeholder"]) {
			if _, has := x["num"]; has {
				t.Fatalf("a placeholder left in a binary emit: %#v", x)
			}
		}
		for _, e := range x {
			checkJSONArgs(t, e, binary, depth+1)
		}
	case []byte:
		if !binary {
			t.Fatal("bytes in an emit without the binary marker")
		}
	}
}

func BenchmarkDecodeJSONBinary(b *testing.B) {
	data := []byte(jsonEmits["binary-tuple"].data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnpickleEmit(b *testing.B) {
	data := pickles(b)["emit-p4"]
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
