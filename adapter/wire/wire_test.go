package wire_test

import (
	"runtime"
	"testing"

	"github.com/siogate/siogate/adapter/wire"
	"github.com/siogate/siogate/protocol/socketio"
	"github.com/vmihailenco/msgpack/v5"
)

// BroadcastUID reads the sender of a broadcast without its packet: a
// message whose packet does not decode still yields its uid.
func TestBroadcastUID(t *testing.T) {
	p, err := socketio.NewEvent("/", "ev", []any{"x", []byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	wp, err := wire.PacketFrom(&p)
	if err != nil {
		t.Fatal(err)
	}
	data, err := wire.EncodeBroadcast("node-1", wp, wire.NewOpts([]string{"r"}, nil, true, false))
	if err != nil {
		t.Fatal(err)
	}
	uid, err := wire.BroadcastUID(data)
	if err != nil || uid != "node-1" {
		t.Fatalf("uid = %q, %v; want node-1", uid, err)
	}
	uid2, wp2, o, err := wire.DecodeBroadcast(data)
	if err != nil || uid2 != "node-1" || !o.Flag("volatile") || o.Compress() || len(wp2.Data) != 3 {
		t.Fatalf("DecodeBroadcast = %q %v %v, %v", uid2, wp2, o, err)
	}
	// [uid, <not a packet>, <not options>]: the uid still reads.
	bad := append([]byte{0x93, 0xa3, 'a', 'b', 'c'}, 0xc1, 0xc1)
	if uid, err := wire.BroadcastUID(bad); err != nil || uid != "abc" {
		t.Errorf("uid of a message with a bad packet = %q, %v", uid, err)
	}
	if _, _, _, err := wire.DecodeBroadcast(bad); err == nil {
		t.Error("a bad packet decoded")
	}
	for _, junk := range [][]byte{nil, {0x92, 0xa1, 'a', 0xc0}, {0x93, 0x01, 0xc0, 0xc0}} {
		if _, err := wire.BroadcastUID(junk); err == nil {
			t.Errorf("BroadcastUID(%x) did not fail", junk)
		}
	}
}

// A stamped broadcast or request carries the sequence number; Node's shape
// is kept (three leading broadcast elements, extra JSON field).
func TestStamp(t *testing.T) {
	p, err := socketio.NewEvent("/", "ev", []any{"x"})
	if err != nil {
		t.Fatal(err)
	}
	wp, err := wire.PacketFrom(&p)
	if err != nil {
		t.Fatal(err)
	}
	data, err := wire.EncodeBroadcast("node-1", wp, wire.NewOpts(nil, nil, false, true))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, seq, err := wire.DecodeBroadcastSeq(data); err != nil || seq != 0 {
		t.Fatalf("unstamped seq = %d, %v", seq, err)
	}
	stamped := wire.StampBroadcast(data, 1<<40+7)
	uid, wp2, _, seq, err := wire.DecodeBroadcastSeq(stamped)
	if err != nil || uid != "node-1" || seq != 1<<40+7 || len(wp2.Data) != 2 {
		t.Fatalf("stamped = %q %v %d, %v", uid, wp2, seq, err)
	}
	if u, err := wire.BroadcastUID(stamped); err != nil || u != "node-1" {
		t.Fatalf("uid of stamped = %q, %v", u, err)
	}
	for _, r := range []*wire.Request{
		{UID: "n", RequestID: "r", Type: wire.TypeAllRooms},
		{UID: "n", RequestID: "r", Type: wire.TypeBroadcast, Packet: &wp, Opts: &wire.Opts{Rooms: []string{}, Except: []string{}}},
	} {
		data, err := wire.EncodeRequest(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := wire.DecodeRequest(wire.StampRequest(data, 42))
		if err != nil || got.Seq != 42 || got.UID != "n" || got.RequestID != "r" || got.Type != r.Type {
			t.Fatalf("stamped request %d = %+v, %v", r.Type, got, err)
		}
	}
}

// TestHugeLengthsAllocateLittle: broker traffic whose msgpack headers
// claim a million elements (arrays, maps, nested a hundred deep) in a
// message of a few hundred bytes is refused without allocating for the
// claimed lengths.
func TestHugeLengthsAllocateLittle(t *testing.T) {
	headers := map[string][]byte{
		"array32 1e6":        {0xdd, 0x00, 0x0f, 0x42, 0x40},
		"map32 1e6":          {0xdf, 0x00, 0x0f, 0x42, 0x40, 0xa1, 'k'},
		"array32 4294967295": {0xdd, 0xff, 0xff, 0xff, 0xff},
	}
	for name, hdr := range headers {
		t.Run(name, func(t *testing.T) {
			// [uid, {type: 2, nsp: "/", data: <nested>}, ...] cut short.
			b := []byte{0x93, 0xa1, 'x', 0x83, 0xa4, 't', 'y', 'p', 'e', 0x02, 0xa3, 'n', 's', 'p', 0xa1, '/', 0xa4, 'd', 'a', 't', 'a'}
			for range 100 {
				b = append(b, hdr...)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _, _, err := wire.DecodeBroadcast(b)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("a truncated message was accepted")
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
				t.Fatalf("decoding %d bytes allocated %d bytes", len(b), got)
			}
		})
	}
}

// DecodeBroadcastHead reads the sender, options and sequence number of a
// broadcast and leaves its packet for later: a packet that is not one
// fails only when decoded, a message that is not a broadcast at once.
func TestDecodeBroadcastHead(t *testing.T) {
	p, err := socketio.NewEvent("/", "ev", []any{"x", map[string]any{"n": 1}})
	if err != nil {
		t.Fatal(err)
	}
	wp, err := wire.PacketFrom(&p)
	if err != nil {
		t.Fatal(err)
	}
	data, err := wire.EncodeBroadcast("node-1", wp, wire.NewOpts([]string{"r1", "r2"}, []string{"x"}, true, true))
	if err != nil {
		t.Fatal(err)
	}
	h, err := wire.DecodeBroadcastHead(data)
	if err != nil || h.UID != "node-1" || h.Seq != 0 || len(h.Opts.Rooms) != 2 || h.Opts.Except[0] != "x" || !h.Opts.Flag("volatile") {
		t.Fatalf("head = %+v, %v", h, err)
	}
	h, err = wire.DecodeBroadcastHead(wire.StampBroadcast(append([]byte(nil), data...), 99))
	if err != nil || h.Seq != 99 {
		t.Fatalf("stamped head = %+v, %v", h, err)
	}
	got, err := h.Packet()
	if err != nil || len(got.Data) != 3 || got.Data[0] != "ev" || got.Data[2].(map[string]any)["n"] != int64(1) {
		t.Fatalf("packet = %+v, %v", got, err)
	}
	// The same message with an array 16 header, a nil uid and a packet
	// that is a string.
	opts, err := msgpack.Marshal(h.Opts)
	if err != nil {
		t.Fatal(err)
	}
	odd := append([]byte{0xdc, 0, 3, 0xc0, 0xa1, 'p'}, opts...)
	h, err = wire.DecodeBroadcastHead(odd)
	if err != nil || h.UID != "" || len(h.Opts.Rooms) != 2 {
		t.Fatalf("odd head = %+v, %v", h, err)
	}
	if _, err := h.Packet(); err == nil {
		t.Error("a string decoded as a packet")
	}
	for _, junk := range [][]byte{nil, {0x92, 0xa1, 'a', 0xc0}, {0x93, 0x01, 0xc0, 0xc0}, data[:len(data)-1], {0x93, 0xa1, 'a', 0xc1, 0x80}, {0x93, 0xa1, 'a', 0xc0, 0xa1, 'o'}} {
		if h, err := wire.DecodeBroadcastHead(junk); err == nil {
			t.Errorf("DecodeBroadcastHead(%x) = %+v", junk, h)
		}
	}
}

// TestDuplicateKeyRefused: a broadcast whose packet gives "data" twice
// made the msgpack decoder panic (it decoded the second value into the
// first one's elements); it is now refused with an error. Found by
// FuzzBroadcastHead.
func TestDuplicateKeyRefused(t *testing.T) {
	msg := []byte("\x94\xa40000\x83\xa4data\x940000\xa4data\x94000000\x900")
	if _, _, _, err := wire.DecodeBroadcast(msg); err == nil {
		t.Fatal("a packet giving data twice was accepted")
	}
}
