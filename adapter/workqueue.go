package adapter

import (
	"context"

	"github.com/siogate/siogate/adapter/wire"
)

// WorkQueue is the gateway's side of a work queue: client events pushed
// for workers, each taken by one worker of the group. Every adapter-*
// module offers one on its broker (Redis Streams consumer groups, a
// JetStream work-queue stream, a Kafka consumer group, a RabbitMQ queue).
// Implementations are safe for concurrent use.
type WorkQueue interface {
	// Push returns once the broker has accepted data (persisted it for the
	// group); from then on the event reaches a worker at least once.
	Push(ctx context.Context, data []byte) error
}

// WorkConsumer is a worker's side of a work queue. Consume calls handle
// for each message, several at a time, until ctx is done; a message whose
// handle returns nil is acknowledged, and one whose handle fails, or whose
// worker dies first, is delivered again, to this or another worker. The
// worker module declares the same method, so a worker needs no package of
// the gateway's.
type WorkConsumer interface {
	Consume(ctx context.Context, handle func(ctx context.Context, data []byte) error) error
}

// WorkerReplyReceiver is implemented by a Local that forwards events to
// workers: the cluster adapter hands it every worker reply that arrives
// on the namespace's request channel (wire.TypeWorkerReply); it keeps the
// ones addressed to this node. It must not block.
type WorkerReplyReceiver interface {
	WorkerReply(r *wire.WorkerReply)
}
