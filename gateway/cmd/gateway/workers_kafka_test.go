//go:build cgo && linux

package main

import (
	"testing"
	"time"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// TestWorkersExactlyOnceKafka runs TestWorkersExactlyOnce's scenario with
// the work queue on a Kafka consumer group: librdkafka's mock cluster
// (in this test process, cgo), which takes the group protocol kafka-go
// speaks (join, sync, heartbeat, offset commit and fetch). The topic has
// six partitions, created up front. The replies travel on the Redis
// adapter. When a worker is killed, the group gives its partitions to the
// others after the session timeout (3s here), from the last committed
// offsets, and every event the killed worker had not committed is
// handled again; a rebalance also hands the survivors' partitions around,
// so those may see events twice too. Without a kill the session timeout
// is 10s, and the run has no rebalance unless a loaded machine delays a
// worker's heartbeats that long: duplicates are then allowed too.
func TestWorkersExactlyOnceKafka(t *testing.T) {
	for _, kill := range []bool{false, true} {
		name := "kafka"
		if kill {
			name += "/kill-a-worker"
		}
		t.Run(name, func(t *testing.T) {
			mc, err := ck.NewMockCluster(1)
			if err != nil {
				t.Fatalf("librdkafka mock cluster: %v", err)
			}
			defer mc.Close()
			s := newWorkersSetup(t, "redis", "kafka")
			// A rebalance stops the whole group until every member has
			// rejoined; on a loaded machine a few in a row can hold an event
			// for tens of seconds.
			s.replyWait = 60 * time.Second
			if !kill {
				s.redeliver = "10s"
			}
			s.kafkaURL = "kafka://" + mc.BootstrapServers()
			if err := mc.CreateTopic(s.queue, 6, 1); err != nil {
				t.Fatal(err)
			}
			runExactlyOnce(t, s, kill, 600, false)
		})
	}
}
