package amqpadapter_test

import (
	"testing"

	"github.com/siogate/siogate/adapter"
	amqpadapter "github.com/siogate/siogate/adapter-amqp"
	"github.com/siogate/siogate/emitter/emittertest"
)

// The emitter reaches nodes through this broker.
func TestEmitter(t *testing.T) {
	emittertest.Run(t, func(t *testing.T) adapter.Broker {
		b, err := amqpadapter.NewBroker(amqpadapter.Options{URL: "amqp://guest:guest@127.0.0.1:5672/"})
		if err != nil {
			t.Fatalf("the broker at amqp://guest:guest@127.0.0.1:5672/ is needed: %v", err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}, adapter.ClusterConfig{})
}
