//go:build cgo

// The tests in this file run librdkafka's mock cluster, which needs cgo.

package kafkaadapter_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/siogate/siogate/adapter"
	kafkaadapter "github.com/siogate/siogate/adapter-kafka"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// countedConn decrements its counter once when closed.
type countedConn struct {
	net.Conn
	open *atomic.Int64
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}

// TestOneConnectionForEveryNamespace: the namespaces of a node share one
// fetch loop reading every wanted topic over a few pooled connections
// (it was a kafka-go reader, its connection and goroutines per topic);
// a topic is read while a namespace wants it (adaptertest.RunNamespaces).
// Connections are counted as the broker's dialer opens and closes them,
// topics read as the broker reports them.
func TestOneConnectionForEveryNamespace(t *testing.T) {
	mc := startKafka(t)
	var open atomic.Int64
	var broker atomic.Pointer[kafkaadapter.Broker]
	adaptertest.RunNamespaces(t, adaptertest.Namespaces{
		Broker: func(t *testing.T, _ string) adapter.Broker {
			opts := options(mc)
			opts.Dialer = &kafka.Dialer{
				ClientID: "siogate-test",
				Timeout:  5 * time.Second,
				DialFunc: func(ctx context.Context, network, addr string) (net.Conn, error) {
					var d net.Dialer
					c, err := d.DialContext(ctx, network, addr)
					if err != nil {
						return nil, err
					}
					open.Add(1)
					return &countedConn{Conn: c, open: &open}, nil
				},
			}
			b, err := kafkaadapter.NewBroker(opts)
			if err != nil {
				t.Fatal(err)
			}
			broker.Store(b)
			return b
		},
		Usage: func(t *testing.T, _ string) adaptertest.Usage {
			u := adaptertest.Usage{Connections: int(open.Load())}
			if b := broker.Load(); b != nil {
				u.Subscriptions = b.ReadTopics()
			}
			return u
		},
		// The transport's pool (metadata, fetch, produce) and the
		// connections that find topics' end offsets (at most 4 at once).
		MaxConnections: 8,
	})
}
