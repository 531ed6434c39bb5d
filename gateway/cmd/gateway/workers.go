package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/siogate/siogate/adapter"
	amqpadapter "github.com/siogate/siogate/adapter-amqp"
	kafkaadapter "github.com/siogate/siogate/adapter-kafka"
	natsadapter "github.com/siogate/siogate/adapter-nats"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/metrics"
	"github.com/siogate/siogate/gateway/workers"
)

// workerOptions are the flags of worker forwarding (--workers ...).
type workerOptions struct {
	broker      string
	queue       string
	allow       string
	namespaces  string
	maxInFlight int
	timeout     time.Duration
}

func (w *workerOptions) flags(fs interface {
	StringVar(*string, string, string, string)
	IntVar(*int, string, int, string)
	DurationVar(*time.Duration, string, time.Duration, string)
}) {
	fs.StringVar(&w.broker, "workers", "", "forward the client events no built-in handler takes to workers through a work queue on this broker: redis (a stream with a consumer group at --redis-url), nats (a JetStream work-queue stream at --nats-url), kafka (a consumer group on a topic at --kafka-url, created beforehand with a partition per worker or more), amqp (a durable queue at --amqp-url); empty for none. Needs a cluster --adapter, which carries the workers' replies")
	fs.StringVar(&w.queue, "worker-queue", "siogate.work", "name of the work queue (Redis stream; JetStream subject, and stream with . as _; Kafka topic; RabbitMQ queue), the same on every node and worker")
	fs.StringVar(&w.allow, "worker-events", "", `event names forwarded to workers, comma-separated, each a name or a glob ("*" for all, "order.*"); others are refused with an error (required with --workers)`)
	fs.StringVar(&w.namespaces, "worker-namespaces", "/", "namespaces whose events are forwarded, comma-separated")
	fs.IntVar(&w.maxInFlight, "worker-max-inflight", 10_000, "events this node waits for worker replies on at once; beyond, events are refused with code overloaded")
	fs.DurationVar(&w.timeout, "worker-timeout", 10*time.Second, "how long the node waits for a worker's reply before answering the client with code timeout")
}

// workQueue opens the work queue chosen by --workers.
func workQueue(o options) (adapter.WorkQueue, io.Closer, error) {
	w := o.workers
	switch w.broker {
	case "redis":
		client, err := redisadapter.ClientFromURL(o.redisURL)
		if err != nil {
			return nil, nil, fmt.Errorf("--workers redis: %w", err)
		}
		return redisadapter.NewWorkQueue(client, redisadapter.WorkQueueOptions{Stream: w.queue}), client, nil
	case "nats":
		b, err := natsadapter.NewBroker(natsadapter.Options{URL: o.natsURL})
		if err != nil {
			return nil, nil, fmt.Errorf("--workers nats: %w", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		q, err := natsadapter.NewWorkQueue(ctx, b.Conn(), natsadapter.WorkQueueOptions{Stream: jetStreamName(w.queue), Subject: w.queue})
		if err != nil {
			_ = b.Close()
			return nil, nil, fmt.Errorf("--workers nats (JetStream at --nats-url): %w", err)
		}
		return q, b, nil
	case "kafka":
		q, err := kafkaadapter.NewWorkQueue(kafkaadapter.WorkQueueOptions{URL: o.kafkaURL, Topic: w.queue})
		if err != nil {
			return nil, nil, fmt.Errorf("--workers kafka: %w", err)
		}
		return q, q, nil
	case "amqp":
		q := amqpadapter.NewWorkQueue(amqpadapter.WorkQueueOptions{URL: o.amqpURL, Queue: w.queue})
		return q, q, nil
	default:
		return nil, nil, fmt.Errorf("unknown --workers %q: want redis, nats, kafka or amqp", w.broker)
	}
}

// mountWorkers attaches the forwarder when --workers is set; the closer
// releases its queue's connection.
func mountWorkers(srv *gateway.Server, o options, logger *slog.Logger, reg prometheus.Registerer) (*workers.Forwarder, io.Closer, error) {
	if o.workers.broker == "" {
		return nil, nil, nil
	}
	if o.adapterName == "memory" || o.adapterName == "" {
		return nil, nil, fmt.Errorf("--workers needs a cluster --adapter (redis, nats, amqp or kafka): the workers' replies travel on it")
	}
	q, closer, err := workQueue(o)
	if err != nil {
		return nil, nil, err
	}
	var fwd atomic.Pointer[workers.Forwarder]
	cfg := workers.Config{
		Queue: q, Allow: splitList(o.workers.allow), Namespaces: splitList(o.workers.namespaces),
		MaxInFlight: o.workers.maxInFlight, Timeout: o.workers.timeout, Logger: logger.With("layer", "workers"),
	}
	if reg != nil {
		m, err := metrics.NewWorkerMeter(reg, metrics.Options{}, func() int {
			if f := fwd.Load(); f != nil {
				return f.InFlight()
			}
			return 0
		})
		if err != nil {
			closeQuietly(closer)
			return nil, nil, err
		}
		cfg.Meter = m
	}
	f, err := workers.Attach(srv, cfg)
	if err != nil {
		closeQuietly(closer)
		return nil, nil, fmt.Errorf("--workers: %w (set --worker-events)", err)
	}
	fwd.Store(f)
	return f, closers{closer, closerFunc(func() error { f.Close(); return nil })}, nil
}

func closeQuietly(c io.Closer) {
	if c != nil {
		_ = c.Close()
	}
}
