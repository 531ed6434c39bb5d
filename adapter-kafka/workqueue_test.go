//go:build cgo

package kafkaadapter_test

import (
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	kafkaadapter "github.com/siogate/siogate/adapter-kafka"
	"github.com/siogate/siogate/adapter/adaptertest"
)

// TestWorkQueue runs the work queue kit on librdkafka's mock cluster,
// which takes kafka-go's consumer group protocol: a topic of three
// partitions and a group per subtest. Consumers joining the group
// rebalance it, which may hand a few uncommitted messages to another
// consumer: duplicates are allowed and counted. A failed handler is
// retried in place.
func TestWorkQueue(t *testing.T) {
	mc := startKafka(t)
	adaptertest.RunWorkQueue(t, adaptertest.WorkQueueBroker{
		Create: func(t *testing.T, name string) {
			if err := mc.CreateTopic(name, 3, 1); err != nil {
				t.Fatal(err)
			}
		},
		Open: func(t *testing.T, name string) (adapter.WorkQueue, adapter.WorkConsumer) {
			q, err := kafkaadapter.NewWorkQueue(kafkaadapter.WorkQueueOptions{
				URL: "kafka://" + mc.BootstrapServers(), Topic: name, Group: name,
				SessionTimeout: 3 * time.Second, CommitInterval: 20 * time.Millisecond, FetchWait: 20 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = q.Close() })
			return q, q
		},
	}, adaptertest.WorkQueueTraits{Redeliver: time.Second, RebalanceDuplicates: true})
}
