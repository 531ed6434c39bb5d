package amqpadapter_test

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	amqpadapter "github.com/siogate/siogate/adapter-amqp"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// amqpURL is the RabbitMQ of the development machine and CI.
const amqpURL = "amqp://guest:guest@127.0.0.1:5672/"

func TestConformance(t *testing.T) {
	for _, confirms := range []bool{false, true} {
		t.Run(fmt.Sprintf("confirms=%v", confirms), func(t *testing.T) {
			adaptertest.Run(t, func(t *testing.T) adapter.Factory {
				cfg := adapter.ClusterConfig{
					Prefix:            adaptertest.Prefix(t),
					RequestTimeout:    2 * time.Second,
					HeartbeatInterval: 200 * time.Millisecond,
					// Generous: a node busy with 5,000-socket answers under -race and
					// a loaded machine must not be taken for gone.
					HeartbeatTimeout: 10 * time.Second,
				}
				var brokers []*amqpadapter.Broker
				t.Cleanup(func() {
					for _, b := range brokers {
						_ = b.Close()
					}
				})
				return func(local adapter.Local) adapter.Adapter {
					b, err := amqpadapter.NewBroker(amqpadapter.Options{URL: amqpURL, Confirms: confirms})
					if err != nil {
						t.Fatalf("RabbitMQ on 127.0.0.1:5672 is needed: %v", err)
					}
					brokers = append(brokers, b)
					return adapter.NewCluster(b, cfg)(local)
				}
			})
		})
	}
}

func TestURLs(t *testing.T) {
	if _, err := amqpadapter.NewBroker(amqpadapter.Options{URL: "http://127.0.0.1/"}); !errors.Is(err, amqpadapter.ErrBadURL) {
		t.Errorf("http URL: err = %v, want ErrBadURL", err)
	}
	if _, err := amqpadapter.NewBroker(amqpadapter.Options{URL: "amqp://guest:guest@127.0.0.1:1/"}); err == nil {
		t.Error("an unreachable broker was accepted")
	}
}

// The network to RabbitMQ is cut (new connections refused) and restored,
// twice: the broker reconnects, resubscribes, and broadcasts cross nodes
// again; meanwhile local delivery works and the outage is logged
// (adaptertest.RunRecovery).
func TestReconnectAfterConnectionDrop(t *testing.T) {
	proxy := adaptertest.NewCutter(t, "127.0.0.1:5672")
	adaptertest.RunRecovery(t, adaptertest.Recovery{
		Brokers: func(t *testing.T, logger *slog.Logger) (adapter.Broker, adapter.Broker) {
			bA, err := amqpadapter.NewBroker(amqpadapter.Options{URL: "amqp://guest:guest@" + proxy.Addr() + "/", Logger: logger})
			if err != nil {
				t.Fatalf("RabbitMQ on 127.0.0.1:5672 is needed: %v", err)
			}
			t.Cleanup(func() { _ = bA.Close() })
			bB, err := amqpadapter.NewBroker(amqpadapter.Options{URL: amqpURL})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = bB.Close() })
			return bA, bB
		},
		Interrupt: func(*testing.T) { proxy.Cut(true) },
		Restore:   func(*testing.T) { proxy.Cut(false) },
	})
}

// A node that closes or crashes stops being waited for
// (adaptertest.RunNodeDeath).
func TestNodeDeath(t *testing.T) {
	adaptertest.RunNodeDeath(t, func(t *testing.T) adapter.Broker {
		b, err := amqpadapter.NewBroker(amqpadapter.Options{URL: amqpURL})
		if err != nil {
			t.Fatalf("RabbitMQ on 127.0.0.1:5672 is needed: %v", err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}
