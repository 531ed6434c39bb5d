package wire_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter/wire"
	"github.com/vmihailenco/msgpack/v5"
)

// BroadcastHead.Event writes the same packet as the generic decoder
// (Packet then Packet.Decode), byte for byte, for every kind of value:
// numbers of each msgpack width, strings with escapes and invalid UTF-8,
// binary, nested arrays and objects (keys sorted), and the values it
// leaves to the generic decoder (dates, keys that are not strings).
func TestBroadcastHeadEvent(t *testing.T) {
	values := []any{
		nil, true, false, 0, 1, -1, 127, 128, -32, -33, 255, 256, 65535, 65536, -129, -32769,
		math.MaxInt32, math.MinInt32, int64(math.MaxInt64), int64(math.MinInt64), uint64(math.MaxUint64),
		float32(1.5), float32(math.Inf(1)), 0.1, 1e21, 1e-7, -0.0, math.NaN(), math.Inf(-1), 123456789.125,
		"", "plain", "quote\" back\\ nl\n tab\t ctl\x01", "héllo ☃ 😀", "bad \xff utf8", strings.Repeat("x", 300), strings.Repeat("y", 70000),
		[]byte{}, []byte{1, 2, 3}, bytes.Repeat([]byte{7}, 300), bytes.Repeat([]byte{8}, 70000),
		[]any{}, []any{1, "a", []any{nil, []byte{9}}}, make([]any, 20),
		map[string]any{}, map[string]any{"b": 1, "a": map[string]any{"z": []byte{1}, "y": "s"}, "": nil},
		map[int]any{1: "a", 2: "b"},                   // keys that are not strings
		time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC), // an extension type
	}
	big := map[string]any{}
	for i := range 40 {
		big[fmt.Sprintf("k%02d", 39-i)] = i
	}
	values = append(values, big)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		values = append(values, randomValue(rng, 0))
	}
	for i, v := range values {
		for _, nsp := range []string{"/", "", "/chat"} {
			check(t, fmt.Sprintf("value %d (%T) nsp %q", i, v, nsp), map[string]any{"type": 2, "data": []any{"ev", v, "after"}, "nsp": nsp})
		}
	}
	// Packets the generic decoder refuses are refused.
	for _, pkt := range []any{
		map[string]any{"type": 2, "data": []any{}, "nsp": "/"},
		map[string]any{"type": 2, "data": []any{1, "x"}, "nsp": "/"},
		map[string]any{"type": 2, "nsp": "/"},
		"not a packet",
	} {
		data := broadcast(t, pkt)
		h, err := wire.DecodeBroadcastHead(data)
		if err != nil {
			t.Fatal(err)
		}
		if _, p, err := h.Event(); err == nil {
			t.Errorf("packet %v: Event = %+v", pkt, p)
		}
	}
}

// check compares Event with the generic decoder on one packet.
func check(t *testing.T, name string, pkt map[string]any) {
	t.Helper()
	h, err := wire.DecodeBroadcastHead(broadcast(t, pkt))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	compareHead(t, name, h)
}

// FuzzBroadcastHead: whatever bytes arrive from the broker, reading a
// broadcast's head and writing its packet never panics, and when the
// generic decoder reads the packet, Event writes the same bytes.
func FuzzBroadcastHead(f *testing.F) {
	for _, pkt := range []map[string]any{
		{"type": 2, "data": []any{"ev", 1, "two", []byte{3}}, "nsp": "/"},
		{"type": 2, "data": []any{"ev", map[string]any{"b": 1.5, "a": []any{nil, true}}}, "nsp": "/chat"},
		{"type": 2, "data": []any{"ev", "héllo \xff", int64(math.MinInt64), uint64(math.MaxUint64)}, "nsp": ""},
	} {
		var buf bytes.Buffer
		enc := msgpack.NewEncoder(&buf)
		enc.UseCompactInts(true)
		if err := enc.Encode([]any{"node", pkt, map[string]any{"rooms": []string{"r"}, "except": []string{}, "flags": map[string]any{"volatile": true}}, 7}); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := wire.DecodeBroadcastHead(data)
		if err != nil {
			return
		}
		compareHead(t, "fuzzed message", h)
	})
}

// compareHead compares h.Event with the generic decoder.
func compareHead(t *testing.T, name string, h wire.BroadcastHead) {
	t.Helper()
	wp, err := h.Packet()
	if err != nil {
		if _, p, gerr := h.Event(); gerr == nil {
			t.Fatalf("%s: generic decoder: %v; Event: %+v", name, err, p)
		}
		return
	}
	want, werr := wp.Decode()
	nsp, got, gerr := h.Event()
	if (werr != nil) != (gerr != nil) || nsp != wp.Nsp || got.Type != want.Type || got.Namespace != want.Namespace ||
		!bytes.Equal(got.Data, want.Data) || len(got.Attachments) != len(want.Attachments) {
		t.Fatalf("%s:\n got %q %+v %v\nwant %q %+v %v", name, nsp, got, gerr, wp.Nsp, want, werr)
	}
	for i := range got.Attachments {
		if !bytes.Equal(got.Attachments[i], want.Attachments[i]) {
			t.Fatalf("%s: attachment %d differs", name, i)
		}
	}
}

// broadcast encodes [uid, pkt, opts] as a notepack-like encoder does.
func broadcast(t *testing.T, pkt any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	enc.UseCompactFloats(true)
	if err := enc.Encode([]any{"node", pkt, map[string]any{"rooms": []string{"r"}, "except": []string{}, "flags": map[string]any{}}}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func randomValue(rng *rand.Rand, depth int) any {
	k := rng.IntN(10)
	if depth > 3 {
		k = rng.IntN(7)
	}
	switch k {
	case 0:
		return nil
	case 1:
		return rng.IntN(2) == 0
	case 2:
		return rng.Int64() >> rng.IntN(64)
	case 3:
		return -rng.Int64() >> rng.IntN(64)
	case 4:
		return rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20))
	case 5:
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		if rng.IntN(2) == 0 {
			return b
		}
		return string(b)
	case 6:
		return fmt.Sprintf("s%d", rng.IntN(1000))
	case 7, 8:
		a := make([]any, rng.IntN(5))
		for i := range a {
			a[i] = randomValue(rng, depth+1)
		}
		return a
	default:
		m := map[string]any{}
		for range rng.IntN(6) {
			m[fmt.Sprintf("%c%d", 'a'+rng.IntN(26), rng.IntN(3))] = randomValue(rng, depth+1)
		}
		return m
	}
}

// The options of a broadcast read as the generic decoder reads them,
// whatever their shape: Node's and siogate's, missing or extra fields,
// flags that are not booleans, a key given twice.
func TestBroadcastHeadOpts(t *testing.T) {
	enc := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := [][]byte{
		enc(wire.NewOpts(nil, nil, false, true)),
		enc(wire.NewOpts([]string{"a", "héllo", strings.Repeat("r", 40)}, []string{"x"}, true, false)),
		enc(map[string]any{"rooms": []string{"a"}, "except": []string{}, "flags": map[string]any{"timeout": 5000, "volatile": true}}),
		enc(map[string]any{"rooms": []string{"a"}, "flags": map[string]any{"binary": nil}}),
		enc(map[string]any{"rooms": nil, "except": nil, "flags": nil}),
		enc(map[string]any{"rooms": []string{"a"}, "extra": []any{1, "x"}, "flags": map[string]any{}}),
		enc(map[string]any{}),
		{0x82, 0xa5, 'r', 'o', 'o', 'm', 's', 0x91, 0xa1, 'a', 0xa5, 'r', 'o', 'o', 'm', 's', 0x91, 0xa1, 'b'}, // rooms twice
		{0x81, 0xa5, 'f', 'l', 'a', 'g', 's', 0x82, 0xa1, 'v', 0xc3, 0xa1, 'v', 0xc2},                          // a flag twice
		{0x81, 0xa5, 'r', 'o', 'o', 'm', 's', 0xdc, 0, 2, 0xd9, 1, 'a', 0xda, 0, 1, 'b'},                       // long forms
		{0x81, 0xa5, 'r', 'o', 'o', 'm', 's', 0x91, 0x01},                                                      // a room that is a number
		{0x81, 0xa5, 'f', 'l', 'a', 'g', 's', 0x81, 0x01, 0xc3},                                                // a flag key that is a number
		{0xde, 0, 1, 0xa6, 'e', 'x', 'c', 'e', 'p', 't', 0x91, 0xa0},                                           // map 16
		{0x81, 0xa5, 'r', 'o', 'o', 'm', 's', 0x92, 0xa1, 'a'},                                                 // truncated
		{0x91, 0xa1, 'a'}, // not a map
	}
	for i, opts := range cases {
		msg := append([]byte{0x94, 0xa1, 'n', 0x80}, opts...)
		msg = append(msg, 0x07)
		h, err := wire.DecodeBroadcastHead(msg)
		var want wire.Opts
		werr := msgpack.Unmarshal(opts, &want)
		if werr != nil || err != nil {
			if (werr != nil) != (err != nil) {
				t.Errorf("case %d (%x): head %+v, %v; generic %v", i, opts, h.Opts, err, werr)
			}
			continue
		}
		if !reflect.DeepEqual(h.Opts, want) || h.Seq != 7 || h.UID != "n" {
			t.Errorf("case %d (%x): head %#v seq %d; generic %#v", i, opts, h.Opts, h.Seq, want)
		}
	}
}
