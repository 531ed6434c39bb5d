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
	want := Message{Method: "emit", Namespace: "/n", Event: "e", Args: []any{[]any{1.0, "x"}}, Skip: []string{"a"}, HostID: "h"}
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
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err == nil && m.Method == "" {
			t.Fatal("a message without a method was accepted")
		}
	})
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
