package adapter_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/adapter/wire"
	"github.com/siogate/siogate/protocol/socketio"
)

// captureBroker hands the benchmark the subscription a Cluster makes, so
// that it can feed the receive path directly, as a broker client's read
// loop does.
type captureBroker struct {
	mu  sync.Mutex
	sub adapter.Subscription
}

func (b *captureBroker) Publish(context.Context, string, []byte) error { return nil }

func (b *captureBroker) Subscribe(_ context.Context, sub adapter.Subscription) (io.Closer, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sub = sub
	return io.NopCloser(nil), nil
}

// countLocal is a namespace that counts the sockets each delivery reaches.
type countLocal struct {
	benchLocal
	reached *int
}

func (l countLocal) Deliver(_ *socketio.Packet, sids []string, _ adapter.Flags) int {
	*l.reached += len(sids)
	return len(sids)
}

// BenchmarkReceiveRoomBroadcast measures what a node spends on one room
// broadcast from another node in the classic layout (Redis, NATS): every
// node receives every broadcast, decodes it, drops it when it already had
// it (the sequence number) and hands it to the local members of the room,
// here 1 or 2 among 1,000 rooms. The namespace only counts the sockets
// reached: what it costs to write to them is the gateway's.
func BenchmarkReceiveRoomBroadcast(b *testing.B) {
	for _, members := range []int{0, 1, 2} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			br := &captureBroker{}
			reached := 0
			a := adapter.NewCluster(br, adapter.ClusterConfig{Prefix: "bench"})(countLocal{reached: &reached})
			defer a.Close()
			for r := range 1000 {
				for m := range 2 {
					a.AddAll(fmt.Sprintf("sid-%d-%d", r, m), fmt.Sprintf("room-%d", r))
				}
			}
			a.AddAll("lonely", "room-lonely")
			room := "room-7"
			switch members {
			case 0:
				room = "room-nobody"
			case 1:
				room = "room-lonely"
			}
			p, err := socketio.NewEvent("/", "message", []any{map[string]any{"from": "sid-1", "n": 42, "text": "hello room"}})
			if err != nil {
				b.Fatal(err)
			}
			wp, err := wire.PacketFrom(&p)
			if err != nil {
				b.Fatal(err)
			}
			data, err := wire.EncodeBroadcast("other-node-uid", wp, wire.NewOpts([]string{room}, nil, false, false))
			if err != nil {
				b.Fatal(err)
			}
			data = wire.StampBroadcast(data, 1)
			br.mu.Lock()
			deliver := br.sub.Deliver
			br.mu.Unlock()
			ch := a.(*adapter.Cluster).Channels().Broadcast
			msg := make([]byte, len(data))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				copy(msg, data)
				binary.BigEndian.PutUint64(msg[len(msg)-8:], uint64(i)+1)
				deliver(ch, msg)
			}
			b.StopTimer()
			if reached != b.N*members {
				b.Fatalf("reached %d sockets, want %d", reached, b.N*members)
			}
		})
	}
}
