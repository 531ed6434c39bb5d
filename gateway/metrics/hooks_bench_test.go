package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/siogate/siogate/gateway"
)

// BenchmarkHookCost measures what each hook costs a server with metrics
// attached, called through the interfaces as the server calls them, from
// every CPU at once (the counters are shared). The echo and broadcast
// benchmarks' per-operation cost bounds the overhead: an echo makes one
// Received, one Sent and one HandlerDone (two clock reads around the
// handler, monotonic only); a broadcast to 100 sockets one Broadcast and
// about 100 Sent.
func BenchmarkHookCost(b *testing.B) {
	m, err := New(prometheus.NewRegistry(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	var (
		eng interface {
			Received(int)
			Sent(int, int)
		} = engineMeter{m}
		srv gateway.Meter = serverMeter{m}
	)
	b.Run("Received", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				eng.Received(20)
			}
		})
	})
	b.Run("Sent", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				eng.Sent(1, 20)
			}
		})
	})
	b.Run("HandlerDone+clock", func(b *testing.B) {
		// The server reads the monotonic clock before and after the
		// handler (time since its meter was set).
		epoch := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				start := time.Since(epoch)
				srv.HandlerDone(nil, "echo", time.Since(epoch)-start)
			}
		})
	})
	b.Run("HandlerDone", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				srv.HandlerDone(nil, "echo", 42*time.Microsecond)
			}
		})
	})
	b.Run("Broadcast", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				srv.Broadcast("/", 100)
			}
		})
	})
}
