package natsadapter_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/siogate/siogate/adapter"
	natsadapter "github.com/siogate/siogate/adapter-nats"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// TestWorkQueue runs the work queue kit on the shared JetStream, a
// stream per subtest (deleted at its end), each side with a connection of
// its own.
func TestWorkQueue(t *testing.T) {
	adaptertest.RunWorkQueue(t, adaptertest.WorkQueueBroker{
		Create: func(t *testing.T, name string) {
			t.Cleanup(func() {
				nc, err := nats.Connect("nats://127.0.0.1:4222")
				if err != nil {
					t.Errorf("deleting stream %s: %v", name, err)
					return
				}
				defer nc.Close()
				js, _ := jetstream.New(nc)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := js.DeleteStream(ctx, name); err != nil {
					t.Errorf("deleting stream %s: %v", name, err)
				}
			})
		},
		Open: func(t *testing.T, name string) (adapter.WorkQueue, adapter.WorkConsumer) {
			nc, err := nats.Connect("nats://127.0.0.1:4222")
			if err != nil {
				t.Fatalf("the work queue tests need NATS with JetStream on 127.0.0.1:4222: %v", err)
			}
			t.Cleanup(nc.Close)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			q, err := natsadapter.NewWorkQueue(ctx, nc, natsadapter.WorkQueueOptions{Stream: name, Subject: name, AckWait: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return q, q
		},
	}, adaptertest.WorkQueueTraits{Redeliver: time.Second})
}
