package amqpadapter_test

import (
	"context"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	amqpadapter "github.com/siogate/siogate/adapter-amqp"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// TestWorkQueue runs the work queue kit on the shared RabbitMQ, a queue
// per subtest (deleted at its end), each side with a connection of its
// own. A rejected message is requeued at once.
func TestWorkQueue(t *testing.T) {
	adaptertest.RunWorkQueue(t, adaptertest.WorkQueueBroker{
		Create: func(t *testing.T, name string) {
			t.Cleanup(func() {
				q := amqpadapter.NewWorkQueue(amqpadapter.WorkQueueOptions{Queue: name})
				defer q.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := q.Delete(ctx); err != nil {
					t.Errorf("deleting queue %s: %v", name, err)
				}
			})
		},
		Open: func(t *testing.T, name string) (adapter.WorkQueue, adapter.WorkConsumer) {
			q := amqpadapter.NewWorkQueue(amqpadapter.WorkQueueOptions{Queue: name})
			t.Cleanup(func() { _ = q.Close() })
			return q, q
		},
	}, adaptertest.WorkQueueTraits{Redeliver: time.Second})
}
