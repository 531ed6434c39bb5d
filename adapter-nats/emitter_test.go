package natsadapter_test

import (
	"testing"

	"github.com/siogate/siogate/adapter"
	natsadapter "github.com/siogate/siogate/adapter-nats"
	"github.com/siogate/siogate/emitter/emittertest"
)

// The emitter reaches nodes through this broker.
func TestEmitter(t *testing.T) {
	emittertest.Run(t, func(t *testing.T) adapter.Broker {
		b, err := natsadapter.NewBroker(natsadapter.Options{URL: "nats://127.0.0.1:4222"})
		if err != nil {
			t.Fatalf("the broker at nats://127.0.0.1:4222 is needed: %v", err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}, adapter.ClusterConfig{})
}
