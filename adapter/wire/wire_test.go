package wire_test

import (
	"testing"

	"github.com/siogate/siogate/adapter/wire"
	"github.com/siogate/siogate/protocol/socketio"
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
